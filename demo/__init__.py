"""Demos beyond `make demo` (compose.yaml): `make demo-db` (db.py)."""
