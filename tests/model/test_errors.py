"""The one exception tree: each error carries its HTTP status and what failed."""

from __future__ import annotations

import pytest

from docstream import errors
from docstream.errors import DocstreamError

TREE = {
    "ValidationError": ("DocstreamError", 417),
    "MandatoryError": ("ValidationError", 417),
    "LinkValidationError": ("ValidationError", 417),
    "LinkExistsError": ("ValidationError", 417),
    "DocstatusError": ("ValidationError", 417),
    "UnknownFieldError": ("ValidationError", 417),
    "DuplicateEntryError": ("DocstreamError", 409),
    "DoesNotExistError": ("DocstreamError", 404),
    "PermissionError": ("DocstreamError", 403),
    "AuthenticationError": ("DocstreamError", 401),
    "MalformedRequestError": ("DocstreamError", 400),
    "RequestTooLargeError": ("DocstreamError", 413),
    "TransientError": ("DocstreamError", 503),
    "StorageError": ("DocstreamError", 500),
}


@pytest.mark.parametrize("name", sorted(TREE))
def test_tree_and_statuses(name: str) -> None:
    parent, status = TREE[name]
    cls = getattr(errors, name)
    assert cls.__bases__ == (getattr(errors, parent),)
    assert cls.http_status == status
    assert name in errors.__all__ and name in (errors.__doc__ or "")


def test_errors_carry_what_failed() -> None:
    err = errors.LinkExistsError("cannot delete Customer Acme: it is linked with Sales Invoice SINV-1",
                                 doctype="Customer", name="Acme")
    assert isinstance(err, DocstreamError) and str(err) == err.message
    assert err.as_dict() == {
        "exc_type": "LinkExistsError",
        "exception": "docstream.exceptions.LinkExistsError: cannot delete Customer Acme: it is linked with Sales Invoice SINV-1",
        "message": "cannot delete Customer Acme: it is linked with Sales Invoice SINV-1",
        "doctype": "Customer", "name": "Acme",
    }
    assert errors.UnknownFieldError("x", field="colour").as_dict()["field"] == "colour"
