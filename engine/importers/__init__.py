"""Readers of model and weights files written by other tools; each writes or feeds an ordinary scenario."""
