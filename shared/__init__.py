"""Lodestar's common code: what all three services share, and nothing service-specific.

Never imports from `services/`. The modules are the public surface; each names its concepts.
"""
