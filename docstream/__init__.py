"""docstream: Frappe-style sites with event streaming between them."""

from docstream.errors import DocstreamError
from docstream.site import Site

__all__ = ["DocstreamError", "Site"]
__version__ = "0.1.0"
