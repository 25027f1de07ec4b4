"""An installation's set-up: its folders (config), connection profiles, the credentials vault, and wiring, which
opens a profile's store, vault and clients for a headless command; may import app.domain, app.clients, app.store."""
