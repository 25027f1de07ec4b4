"""Loopback HTTP servers that behave like NAV (OData v4 / Business Central API) and BILL (v3).
May import app.domain and app.clients (the runner hands out connections to them); never the store or engine.

They are the embedded default for a first run (`--demo`), the ground for tests and the ground
for benchmarks. Shapes follow the vendors' documentation (see ../shared/reference), not the
connector's own clients.
"""
