"""DocType meta: the definition of a DocType, its fields and permissions.

A DocType is itself a document (DocType ``DocType`` with DocField and DocPerm
rows). ``Meta`` is the read-only, parsed form the model works with; the
registry (``docstream.model.registry``) builds it from the database, merging
Custom Fields in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

# fieldtypes that hold no value of their own
NO_VALUE_TYPES = frozenset({"Section Break", "Column Break", "Tab Break", "HTML", "Button", "Heading"})
TABLE_TYPES = frozenset({"Table", "Table MultiSelect"})
LINK_TYPES = frozenset({"Link", "Dynamic Link"})
INT_TYPES = frozenset({"Int", "Check"})
KEY_LIMIT = 2 ** 63  # a table key is a signed 64-bit integer on both databases
_KEY_TEXT = re.compile(r"-?(0|[1-9][0-9]*)")
FLOAT_TYPES = frozenset({"Float", "Currency", "Percent"})
TEXT_TYPES = frozenset({
    "Data", "Small Text", "Text", "Long Text", "Code", "Text Editor", "Markdown Editor",
    "HTML Editor", "Select", "Link", "Dynamic Link", "Password", "Read Only", "Attach",
    "Attach Image", "Color", "Phone", "Autocomplete", "Rating", "Duration", "Signature",
})
DATE_TYPES = frozenset({"Date", "Datetime", "Time"})
FIELD_TYPES = (
    NO_VALUE_TYPES | TABLE_TYPES | INT_TYPES | FLOAT_TYPES | TEXT_TYPES | DATE_TYPES | {"JSON"}
)

STD_FIELDS = ("name", "owner", "creation", "modified", "modified_by", "docstatus", "idx")
CHILD_STD_FIELDS = ("parent", "parentfield", "parenttype")
PERM_TYPES = ("read", "write", "create", "delete", "submit", "cancel")


@dataclass(frozen=True)
class DocField:
    fieldname: str
    fieldtype: str
    label: str = ""
    options: str = ""
    reqd: bool = False
    unique: bool = False
    default: Any = None
    read_only: bool = False
    hidden: bool = False
    in_list_view: bool = False
    description: str = ""
    is_custom: bool = False

    @property
    def has_value(self) -> bool:
        return self.fieldtype not in NO_VALUE_TYPES

    @property
    def is_table(self) -> bool:
        return self.fieldtype in TABLE_TYPES

    @property
    def select_options(self) -> list[str]:
        return [o for o in (self.options or "").split("\n")]

    @classmethod
    def from_dict(cls, d: dict[str, Any], is_custom: bool = False) -> DocField:
        return cls(
            fieldname=d["fieldname"],
            fieldtype=d.get("fieldtype") or "Data",
            label=d.get("label") or _label(d["fieldname"]),
            options=d.get("options") or "",
            reqd=bool(d.get("reqd")),
            unique=bool(d.get("unique")),
            default=d.get("default"),
            read_only=bool(d.get("read_only")),
            hidden=bool(d.get("hidden")),
            in_list_view=bool(d.get("in_list_view")),
            description=d.get("description") or "",
            is_custom=is_custom,
        )


@dataclass
class Meta:
    """A DocType, parsed. Read-only once built (the field lists are computed once and cached)."""

    name: str
    module: str = "Core"
    autoname: str = ""
    istable: bool = False
    is_submittable: bool = False
    title_field: str = ""
    sort_field: str = ""
    sort_order: str = ""
    keyed_by: str = ""  # an Int field keying the table in place of name (see schema)
    fields: list[DocField] = field(default_factory=list)
    permissions: list[dict[str, Any]] = field(default_factory=list)
    custom: bool = False
    _by_name: dict[str, DocField] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_name = {f.fieldname: f for f in self.fields}

    @property
    def default_order(self) -> str:
        """How lists are ordered when no order is asked for (Frappe's sort_field / sort_order)."""
        field = self.sort_field if self.sort_field and self.is_known(self.sort_field) else "modified"
        return f"{field} {'asc' if self.sort_order == 'ASC' else 'desc'}"

    @property
    def table_name(self) -> str:
        return "tab" + self.name

    def get_field(self, fieldname: str) -> DocField | None:
        return self._by_name.get(fieldname)

    @cached_property
    def named_by_key(self) -> bool:
        """A table keyed by an Int whose documents are named by the key (what the model requires
        of a keyed DocType since its name lost its index; one made before may be named otherwise,
        and then keeps being looked up by its indexed name)."""
        return bool(self.keyed_by) and self.autoname.replace(" ", "") == f"field:{self.keyed_by}"

    def key_of(self, name: Any) -> int | None:
        """In a table keyed by an Int (``keyed_by``), a document's name is its key written out:
        the key of the document called ``name``, or None when no document can be called that.
        Look-ups by name go to the key, so the name column needs no index."""
        text = str(name)
        if not _KEY_TEXT.fullmatch(text):
            return None
        key = int(text)
        return key if -KEY_LIMIT <= key < KEY_LIMIT else None

    def has_field(self, fieldname: str) -> bool:
        return fieldname in self._by_name

    @cached_property
    def value_fields(self) -> list[DocField]:
        return [f for f in self.fields if f.has_value and not f.is_table]

    @cached_property
    def table_fields(self) -> list[DocField]:
        return [f for f in self.fields if f.is_table]

    @cached_property
    def password_fields(self) -> list[DocField]:
        return [f for f in self.value_fields if f.fieldtype == "Password"]

    @cached_property
    def link_fields(self) -> list[DocField]:
        return [f for f in self.fields if f.fieldtype in LINK_TYPES]

    @property
    def std_fields(self) -> tuple[str, ...]:
        return STD_FIELDS + CHILD_STD_FIELDS if self.istable else STD_FIELDS

    @cached_property
    def columns(self) -> list[str]:
        return list(self.std_fields) + [f.fieldname for f in self.value_fields]

    @cached_property
    def json_fieldnames(self) -> frozenset[str]:
        return frozenset(f.fieldname for f in self.value_fields if f.fieldtype == "JSON")

    @cached_property
    def json_positions(self) -> tuple[int, ...]:
        """Where in ``columns`` the JSON fields are (their values are converted when stored)."""
        return tuple(i for i, c in enumerate(self.columns) if c in self.json_fieldnames)

    # What validation looks at, in field order (tables included: their rows are checked too).
    @cached_property
    def mandatory_checks(self) -> list[DocField]:
        return [f for f in self.fields if f.has_value and (f.reqd or f.is_table)]

    @cached_property
    def option_checks(self) -> list[DocField]:
        return [f for f in self.fields if f.fieldtype == "Select" or f.is_table]

    @cached_property
    def read_only_checks(self) -> list[DocField]:
        return [f for f in self.fields if (f.read_only and f.has_value) or f.is_table]

    @cached_property
    def link_checks(self) -> list[DocField]:
        return [f for f in self.fields if f.fieldtype in LINK_TYPES or f.is_table]

    def is_known(self, key: str) -> bool:
        return key in self._by_name or key in self.std_fields or key == "doctype"

    @classmethod
    def from_dict(cls, d: dict[str, Any], custom_fields: list[dict[str, Any]] = ()) -> Meta:
        fields = [DocField.from_dict(f) for f in d.get("fields", [])]
        for cf in custom_fields:
            fields = _insert_after(fields, DocField.from_dict(cf, is_custom=True), cf.get("insert_after"))
        return cls(
            name=d["name"],
            module=d.get("module") or "Core",
            autoname=d.get("autoname") or "",
            istable=bool(d.get("istable")),
            is_submittable=bool(d.get("is_submittable")),
            title_field=d.get("title_field") or "",
            sort_field=d.get("sort_field") or "",
            sort_order=(d.get("sort_order") or "").upper(),
            keyed_by=d.get("keyed_by") or "",
            fields=fields,
            permissions=[
                {"role": p["role"], **{k: int(bool(p.get(k))) for k in PERM_TYPES}}
                for p in d.get("permissions", [])
            ],
            custom=bool(d.get("custom")),
        )


def _insert_after(fields: list[DocField], new: DocField, after: str | None) -> list[DocField]:
    fields = [f for f in fields if f.fieldname != new.fieldname]
    for i, f in enumerate(fields):
        if after and f.fieldname == after:
            return fields[: i + 1] + [new] + fields[i + 1:]
    return fields + [new]


def _label(fieldname: str) -> str:
    return fieldname.replace("_", " ").title()


def slug(doctype: str) -> str:
    """The desk URL slug of a DocType: lower case, spaces as hyphens."""
    return doctype.lower().replace(" ", "-")
