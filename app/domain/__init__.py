"""Domain types and rules. No I/O, no Qt: everything here is plain data and pure functions."""
