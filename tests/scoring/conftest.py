"""Fixtures of the scoring tests live in the root conftest (demo_store, demo_copy)."""
