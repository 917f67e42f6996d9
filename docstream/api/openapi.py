"""``/api/openapi.json``: an OpenAPI 3.1 description of this site's API, as the caller sees it.

Every DocType the caller may read gets its resource paths and a schema built from its meta;
every whitelisted method the caller may call gets its path, arguments from its signature.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any
from urllib.parse import quote

from docstream.api import methods
from docstream.auth.permissions import GUEST, readable_doctypes
from docstream.model.meta import DocField, Meta
from docstream.model.documents import Session

_NUMBER = {"Float", "Currency", "Percent"}
_INTEGER = {"Int", "Check"}
_ERROR = {"$ref": "#/components/responses/Error"}


def schema_name(doctype: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", doctype)


def build(session: Session) -> dict[str, Any]:
    metas = session.site.metas.all()
    doctypes = readable_doctypes(metas, session.user, session.roles)
    paths: dict[str, Any] = {}
    for doctype in doctypes:
        paths.update(_resource_paths(metas[doctype]))
    for method in methods.registered():
        if method.allow_guest or session.user != GUEST:
            paths[f"/api/method/{method.name}"] = _method_path(method)
    return {
        "openapi": "3.1.0",
        "info": {"title": f"docstream site {session.site.name}", "version": _version(),
                 "description": "Frappe-compatible REST API (see docs/api.md)."},
        "paths": paths,
        "components": _components(metas, doctypes),
        "security": [{"token": []}, {"basic": []}, {"sid": []}],
    }


def _version() -> str:
    try:
        return metadata.version("docstream")
    except metadata.PackageNotFoundError:
        return "0"


def _components(metas: dict[str, Meta], doctypes: list[str]) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Error": _error_schema()}
    pending = list(doctypes)
    while pending:
        meta = metas[pending.pop()]
        if schema_name(meta.name) in schemas:
            continue
        schemas[schema_name(meta.name)] = _doc_schema(meta)
        pending.extend(f.options for f in meta.table_fields if f.options in metas)
    error = {"description": "an error, in Frappe's shape",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return {
        "schemas": schemas,
        "responses": {"Error": error},
        "securitySchemes": {
            "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                      "description": "token <api_key>:<api_secret>"},
            "basic": {"type": "http", "scheme": "basic", "description": "api_key:api_secret"},
            "sid": {"type": "apiKey", "in": "cookie", "name": "sid", "description": "from /api/method/login"},
        },
    }


def _error_schema() -> dict[str, Any]:
    return {"type": "object", "required": ["exc_type", "message"], "properties": {
        "exc_type": {"type": "string"}, "exception": {"type": "string"}, "message": {"type": "string"},
        "doctype": {"type": "string"}, "name": {"type": "string"}, "field": {"type": "string"},
        "request_id": {"type": "string"},
    }}


def _doc_schema(meta: Meta) -> dict[str, Any]:
    props: dict[str, Any] = {"name": {"type": "string"}, "doctype": {"type": "string", "const": meta.name}}
    for std in ("owner", "creation", "modified", "modified_by"):
        props[std] = {"type": ["string", "null"], "readOnly": True}
    props["docstatus"] = {"type": "integer", "enum": [0, 1, 2]}
    props["idx"] = {"type": "integer"}
    for field in meta.fields:
        if field.has_value:
            props[field.fieldname] = _field_schema(field)
    return {"type": "object", "title": meta.name, "properties": props}


def _field_schema(field: DocField) -> dict[str, Any]:
    if field.is_table:
        out: dict[str, Any] = {"type": "array", "items": {"$ref": f"#/components/schemas/{schema_name(field.options)}"}}
    elif field.fieldtype in _INTEGER:
        out = {"type": "integer"} if field.fieldtype == "Int" else {"type": "integer", "enum": [0, 1]}
    elif field.fieldtype in _NUMBER:
        out = {"type": ["number", "null"]}
    elif field.fieldtype == "JSON":
        out = {}
    elif field.fieldtype == "Select":
        out = {"type": ["string", "null"], "enum": [*dict.fromkeys(field.select_options), None]}
    else:
        out = {"type": ["string", "null"]}
        if field.fieldtype == "Date":
            out["format"] = "date"
    if field.fieldtype == "Password":
        out["description"] = "write only: always masked in answers"
    if field.read_only:
        out["readOnly"] = True
    out["title"] = field.label
    return out


def _resource_paths(meta: Meta) -> dict[str, Any]:
    base = f"/api/resource/{quote(meta.name, safe='')}"
    ref = {"$ref": f"#/components/schemas/{schema_name(meta.name)}"}
    op = re.sub(r"\W", "_", meta.name.lower())
    required = [f.fieldname for f in meta.fields if f.reqd and f.has_value]
    one = _json_ok({"type": "object", "properties": {"data": ref}})
    name_param = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
                  "description": "the document's name, percent-encoded"}
    return {
        base: {
            "get": {"operationId": f"list_{op}", "summary": f"List {meta.name}", "tags": [meta.name],
                    "parameters": _list_params(),
                    "responses": {"200": _json_ok({"type": "object", "properties": {"data": {"type": "array", "items": ref}}}),
                                  "default": _ERROR}},
            "post": {"operationId": f"insert_{op}", "summary": f"Create a {meta.name}", "tags": [meta.name],
                     "requestBody": _body({"allOf": [ref], "required": required} if required else ref),
                     "responses": {"200": one, "default": _ERROR}},
        },
        base + "/{name}": {
            "parameters": [name_param],
            "get": {"operationId": f"get_{op}", "tags": [meta.name], "responses": {"200": one, "default": _ERROR}},
            "put": {"operationId": f"update_{op}", "tags": [meta.name], "requestBody": _body(ref),
                    "description": "fields to change; child tables are replaced as sent; docstatus 1 submits, 2 cancels",
                    "responses": {"200": one, "default": _ERROR}},
            "delete": {"operationId": f"delete_{op}", "tags": [meta.name],
                       "responses": {"202": _json_ok({"type": "object", "properties": {"message": {"const": "ok"}}}),
                                     "default": _ERROR}},
        },
    }


def _list_params() -> list[dict[str, Any]]:
    def param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

    return [
        param("fields", {"type": "string"}, 'JSON list of field names; ["*"] for all'),
        param("filters", {"type": "string"}, 'JSON: {"field": value}, {"field": ["op", value]} or [["field", "op", value]]'),
        param("order_by", {"type": "string"}, "e.g. modified desc"),
        param("limit_start", {"type": "integer", "minimum": 0}, "offset (alias: start)"),
        param("limit_page_length", {"type": "integer", "minimum": 0}, "page size, 0 for all; default 20 (alias: limit)"),
    ]


def _method_path(method: methods.Method) -> dict[str, Any]:
    item: dict[str, Any] = {}
    params = [p for p in method.parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    summary = method.doc.splitlines()[0] if method.doc else method.name
    slug = re.sub(r"\W", "_", method.name)
    for verb in method.methods:
        op: dict[str, Any] = {"operationId": f"{verb.lower()}_{slug}", "summary": summary,
                              "tags": ["methods"], "responses": {"200": _json_ok({"type": "object", "properties": {"message": {}}}),
                                                                 "default": _ERROR}}
        if verb in ("GET", "DELETE"):
            op["parameters"] = [{"name": p.name, "in": "query", "required": p.default is p.empty,
                                 "schema": {"type": "string"}} for p in params]
        elif params:
            required = [p.name for p in params if p.default is p.empty]
            schema: dict[str, Any] = {"type": "object", "properties": {p.name: {} for p in params}}
            if required:
                schema["required"] = required
            op["requestBody"] = _body(schema, form=True)
        item[verb.lower()] = op
    if method.allow_guest:
        for op in item.values():
            op["security"] = [{}, {"token": []}, {"basic": []}, {"sid": []}]
    return item


def _json_ok(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any], form: bool = False) -> dict[str, Any]:
    content = {"application/json": {"schema": schema}}
    if form:
        content["application/x-www-form-urlencoded"] = {"schema": schema}
    else:
        content["application/x-www-form-urlencoded"] = {"schema": {
            "type": "object", "properties": {"data": {"type": "string", "description": "the document as JSON"}}}}
    return {"required": True, "content": content}
