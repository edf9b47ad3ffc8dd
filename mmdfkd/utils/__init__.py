"""Helpers shared across mmdfkd's families."""
