"""Fixtures for the TUI tests (helpers live in tuitest.py, importable because pytest puts this folder on sys.path)."""
from tuitest import scenario_copy  # noqa: F401  (a fixture)
