"""Tables for DocTypes: one real table per DocType, typed columns, indexes; ALTER on change."""

from __future__ import annotations

from docstream.errors import ValidationError
from docstream.model.meta import LINK_TYPES, DocField, Meta
from docstream.model.types import coerce, to_db
from docstream.storage import Database, quote

_STD_TYPES = {
    "name": "TEXT NOT NULL PRIMARY KEY",
    "owner": "TEXT",
    "creation": "Datetime",
    "modified": "Datetime",
    "modified_by": "TEXT",
    "docstatus": "INTEGER NOT NULL DEFAULT 0",
    "idx": "INTEGER NOT NULL DEFAULT 0",
    "parent": "TEXT",
    "parentfield": "TEXT",
    "parenttype": "TEXT",
}


def _std_type(db: Database, column: str) -> str:
    kind = _STD_TYPES[column]
    return db.column_type(kind) if kind == "Datetime" else kind


def sync_table(db: Database, meta: Meta) -> None:
    """Create the DocType's table, or add the columns it lacks, or change the type of a column
    whose field changed type (converting its values; never dropping data)."""
    table = meta.table_name
    existing = db.column_types(table)
    if not existing:
        _create(db, meta)
        return
    for column in meta.std_fields:
        if column not in existing:
            db.sql(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column)} {_std_type(db, column)}")
    for f in meta.value_fields:
        wanted = db.column_type(f.fieldtype)
        if f.fieldname not in existing:
            db.sql(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(f.fieldname)} {wanted}")
        elif existing[f.fieldname] != wanted.lower():
            _retype(db, meta, f)
    _indexes(db, meta)


def _retype(db: Database, meta: Meta, field: DocField) -> None:
    """A field changed to a type its column can't hold (Data → Int, say): every stored value is
    converted as saving the document would convert it, the column gets the new type, and the
    values go back. A value that doesn't convert stops the change, naming the document; the
    caller's transaction then leaves everything as it was."""
    table, column = quote(meta.table_name), quote(field.fieldname)
    key = quote(meta.keyed_by) if meta.named_by_key else "name"  # a keyed table's name has no index
    converted = []
    for row in db.sql(f"SELECT name, {key} AS k, {column} AS v FROM {table} WHERE {column} IS NOT NULL"):
        try:
            converted.append((to_db(field, coerce(field, row["v"]), ""), row["k"]))
        except ValidationError as exc:
            raise ValidationError(
                f"{meta.name}.{field.fieldname} can't become {field.fieldtype}: {meta.name} {row['name']} holds "
                f"{row['v']!r}, which is not one ({exc.message}); change that value first",
                doctype=meta.name, name=row["name"], field=field.fieldname,
            ) from exc
    db.retype_column(meta.table_name, field.fieldname, db.column_type(field.fieldtype))
    if converted:
        db.executemany(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", converted)


def _create(db: Database, meta: Meta) -> None:
    columns = [f"{quote(c)} {_std_type(db, c)}" for c in meta.std_fields]
    columns += [f"{quote(f.fieldname)} {db.column_type(f.fieldtype)}" for f in meta.value_fields]
    if meta.keyed_by:
        # An append-only log pays for every B-tree on every write: the table is keyed by the
        # Int field (on SQLite the rowid itself, so rows are appended to one B-tree) and nothing
        # else is indexed: the name is the key written out (rows.by_name looks a name up by its
        # key), and such tables are read by their key, not by modified or Links.
        key = meta.keyed_by
        columns = [
            f"{quote('name')} TEXT NOT NULL{'' if meta.named_by_key else ' UNIQUE'}" if c.startswith(f"{quote('name')} ") else
            f"{quote(key)} {db.column_type('Int')} NOT NULL PRIMARY KEY" if c.startswith(f"{quote(key)} ") else c
            for c in columns
        ]
    db.sql(f"CREATE TABLE IF NOT EXISTS {quote(meta.table_name)} ({', '.join(columns)})")
    _indexes(db, meta)


def _indexes(db: Database, meta: Meta) -> None:
    table = meta.table_name
    wanted = [] if meta.keyed_by else ["modified"] + [f.fieldname for f in meta.link_fields]
    if meta.istable:
        wanted.append("parent")
    for column in wanted:
        db.sql(
            f"CREATE INDEX IF NOT EXISTS {quote(_index_name(table, column))} "
            f"ON {quote(table)} ({quote(column)})"
        )
    for f in meta.value_fields:
        if f.unique and f.fieldname != meta.keyed_by:
            db.sql(
                f"CREATE UNIQUE INDEX IF NOT EXISTS {quote(_index_name(table, f.fieldname, 'uniq'))} "
                f"ON {quote(table)} ({quote(f.fieldname)})"
            )


def _index_name(table: str, column: str, kind: str = "idx") -> str:
    name = f"{kind}_{table}_{column}".replace(" ", "_").lower()
    if len(name) > 60:  # PostgreSQL truncates identifiers at 63 bytes
        import hashlib

        name = name[:50] + hashlib.md5(name.encode()).hexdigest()[:8]
    return name


def link_fields_to(metas: dict[str, Meta], target: str) -> list[tuple[Meta, str]]:
    """Every (meta, fieldname) whose Link points at ``target``."""
    return [
        (m, f.fieldname)
        for m in metas.values()
        for f in m.fields
        if f.fieldtype == "Link" and f.options == target
    ]


def dynamic_link_fields(metas: dict[str, Meta]) -> list[tuple[Meta, str, str]]:
    """Every (meta, fieldname, doctype_field) of a Dynamic Link."""
    return [
        (m, f.fieldname, f.options)
        for m in metas.values()
        for f in m.fields
        if f.fieldtype == "Dynamic Link" and f.options
    ]


__all__ = ["LINK_TYPES", "dynamic_link_fields", "link_fields_to", "sync_table"]
