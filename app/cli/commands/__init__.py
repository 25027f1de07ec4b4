"""One module per subcommand (`sync`, `serve`, `check`, `profile`, `vault`, `settings`, `store`, `sandbox`, ...), each
with ``main(args)``; may import app.cli's helpers and every layer below it, never app.ui (the window)."""
