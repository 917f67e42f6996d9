"""Password fields never leave the site in clear: every value going out is masked.

The Document layer stores a mask in the column and the secret elsewhere, so this is the
last line of defence: whatever a response holds, a set Password field reads ``********``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from docstream.model.documents import MASK
from docstream.model.meta import Meta


def mask_document(get_meta: Callable[[str], Meta], doctype: str, doc: Any) -> Any:
    """``doc`` (or a list row of ``doctype``) with every set Password field masked, child rows too."""
    if not isinstance(doc, dict):
        return doc
    meta = get_meta(doctype)
    for field in meta.fields:
        value = doc.get(field.fieldname)
        if field.fieldtype == "Password" and value not in (None, ""):
            doc[field.fieldname] = MASK
        elif field.is_table and isinstance(value, list):
            for row in value:
                mask_document(get_meta, field.options, row)
    return doc


def mask_documents(get_meta: Callable[[str], Meta], doctype: str, docs: list[Any]) -> list[Any]:
    for doc in docs:
        mask_document(get_meta, doctype, doc)
    return docs


__all__ = ["MASK", "mask_document", "mask_documents"]
