"""Integration tests of the alerts service: real broker, real databases."""
