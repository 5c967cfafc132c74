"""Dependency aliases of the goals routes."""

from shared.api import Admin, Reader, ReadSession, RuntimeDep, Writer, WriteSession

__all__ = ["Admin", "ReadSession", "Reader", "RuntimeDep", "WriteSession", "Writer"]
