"""The NAV (nav/: BC API v2.0 and classic pages) and BILL (bill.py, v3) clients on requests, with retries; they
parse JSON into app.domain types. May import app.domain and app.log only."""
