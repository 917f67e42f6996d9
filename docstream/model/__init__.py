"""The document model: DocType meta, documents, naming, validation, diff."""

from docstream.model.documents import Session
from docstream.model.meta import DocField, Meta

__all__ = ["DocField", "Meta", "Session"]
