"""Domain types and rules: plain data and pure functions, no I/O, no Qt.
Imports nothing from app but app.domain."""
