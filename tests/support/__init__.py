"""Test helpers: the real broker, the real databases, apps run in-process."""
