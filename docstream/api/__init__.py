"""The HTTP API: Frappe-compatible resources and methods, authentication, limits.

The application is ``docstream.api.app.create_app``; methods register with ``whitelist``
(importing this package stays light, so any module may register methods).
"""

from docstream.api.methods import Reply, whitelist

__all__ = ["Reply", "whitelist"]
