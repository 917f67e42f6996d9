"""Storage backends behind one interface."""

from docstream.storage.base import Database, Row, quote
from docstream.storage.open import open_database

__all__ = ["Database", "Row", "open_database", "quote"]
