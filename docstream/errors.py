"""The one exception tree of docstream.

    DocstreamError (500)
    ├── ValidationError (417)
    │   ├── MandatoryError
    │   ├── LinkValidationError
    │   ├── LinkExistsError
    │   ├── DocstatusError
    │   ├── ExpressionError
    │   ├── UnknownFieldError
    │   └── RegistrationError
    ├── DuplicateEntryError (409)
    ├── LogRewoundError (409) — a consumer has read past what this producer's update log holds
    ├── DoesNotExistError (404)
    ├── PermissionError (403)
    ├── AuthenticationError (401)
    │   └── SecurityException (429) — logins of a user refused for a while after repeated failures
    ├── MalformedRequestError (400)
    ├── RequestTooLargeError (413)
    ├── TransientError (503)  — worth retrying later (network, timeouts, 5xx)
    └── StorageError (500)    — a driver error that is not the caller's fault

Each class carries its HTTP status (``http_status``) and the identifiers of
what failed (``doctype``, ``name``, ``field``) so that the API, the CLI and the
sync logs can say exactly what was wrong.
"""

from __future__ import annotations

from typing import Any


class DocstreamError(Exception):
    http_status = 500

    def __init__(
        self,
        message: str,
        *,
        doctype: str | None = None,
        name: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.doctype = doctype
        self.name = name
        self.field = field

    @property
    def exc_type(self) -> str:
        return type(self).__name__

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "exc_type": self.exc_type,
            "exception": f"docstream.exceptions.{self.exc_type}: {self.message}",
            "message": self.message,
        }
        for key in ("doctype", "name", "field"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class ValidationError(DocstreamError):
    http_status = 417


class MandatoryError(ValidationError):
    pass


class LinkValidationError(ValidationError):
    pass


class LinkExistsError(ValidationError):
    pass


class DocstatusError(ValidationError):
    pass


class ExpressionError(ValidationError):
    pass


class UnknownFieldError(ValidationError):
    pass


class RegistrationError(ValidationError):
    pass


class DuplicateEntryError(DocstreamError):
    http_status = 409


class LogRewoundError(DocstreamError):
    """The producer's update log no longer holds what a consumer read from it: the producer was
    restored from a backup, or lost its last commits, and is giving its sequence numbers again."""

    http_status = 409


class DoesNotExistError(DocstreamError):
    http_status = 404


class PermissionError(DocstreamError):  # noqa: A001 - Frappe's name, on purpose
    http_status = 403


class AuthenticationError(DocstreamError):
    http_status = 401


class SecurityException(AuthenticationError):  # Frappe's name for a locked-out login
    http_status = 429


class MalformedRequestError(DocstreamError):
    http_status = 400


class RequestTooLargeError(DocstreamError):
    http_status = 413


class TransientError(DocstreamError):
    http_status = 503


class StorageError(DocstreamError):
    http_status = 500


__all__ = [
    "AuthenticationError",
    "DocstatusError",
    "DocstreamError",
    "DoesNotExistError",
    "DuplicateEntryError",
    "ExpressionError",
    "LinkExistsError",
    "LinkValidationError",
    "LogRewoundError",
    "MalformedRequestError",
    "MandatoryError",
    "PermissionError",
    "RegistrationError",
    "RequestTooLargeError",
    "SecurityException",
    "StorageError",
    "TransientError",
    "UnknownFieldError",
    "ValidationError",
]
