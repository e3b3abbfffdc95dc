"""The tiny checkpoint lives in tests/conftest.py (shared); TILE is its training crop."""

from tests.conftest import TILE

__all__ = ["TILE"]
