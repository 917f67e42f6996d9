"""A site: its folder, settings, database, DocType registry, hooks and secrets."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from docstream import settings as settings_mod
from docstream.auth.secrets import AUTH_DDL, Secrets, load_or_create_key
from docstream.errors import DoesNotExistError, ValidationError
from docstream.model.documents import Session
from docstream.model.hooks import HookRegistry
from docstream.model.naming import SERIES_DDL
from docstream.model.registry import VERSION_DDL, MetaRegistry
from docstream.storage import Database, open_database

_SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


def sites_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get("DOCSTREAM_SITES") or "./sites").resolve()


class Site:
    def __init__(self, name: str, path: Path, config: dict[str, Any], db: Database) -> None:
        self.name = name
        self.path = path
        self.config = config
        self.settings = settings_mod.resolve(config)
        self.db = db
        db.configure(self.settings)
        self.metas = MetaRegistry(db)
        self.hooks = HookRegistry()
        self.secrets = Secrets(db, load_or_create_key(path / "site_key"))
        self.services: dict[str, Any] = {}

    # -- opening ------------------------------------------------------------
    @classmethod
    def open(cls, name: str, base: str | os.PathLike[str] | None = None) -> Site:
        path = sites_dir(base) / name
        config_file = path / "site.json"
        if not config_file.exists():
            raise DoesNotExistError(f"no site {name!r} in {path.parent} (create it with docstream new-site {name})")
        config = json.loads(config_file.read_text())
        site = cls(name, path, config, open_database(config["db_url"]))
        site.metas.refresh()
        _install(site)
        return site

    @classmethod
    def create(
        cls, name: str, admin_password: str, base: str | os.PathLike[str] | None = None,
        db_url: str | None = None, url: str | None = None,
    ) -> Site:
        from docstream.bootstrap import install_site

        if not _SITE_NAME.match(name or ""):
            raise ValidationError(f"invalid site name {name!r}: use letters, digits, '.', '-' and '_'")
        if not admin_password:
            raise ValidationError("--admin-password is required")
        path = sites_dir(base) / name
        if (path / "site.json").exists():
            raise ValidationError(f"site {name!r} already exists in {path.parent}")
        path.mkdir(parents=True, exist_ok=True)
        config = {"db_url": db_url or f"sqlite:///{path / 'site.db'}", "host_name": url or ""}
        db = open_database(config["db_url"], create=True)
        site = cls(name, path, config, db)
        try:
            for ddl in (VERSION_DDL, SERIES_DDL, AUTH_DDL):
                db.sql(ddl)
            _install(site)
            install_site(site, admin_password)
        except BaseException:
            db.close()
            raise
        site.save_config()
        return site

    def save_config(self) -> None:
        tmp = self.path / "site.json.tmp"
        tmp.write_text(json.dumps(self.config, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path / "site.json")
        self.settings = settings_mod.resolve(self.config)

    def set_config(self, key: str, raw: Any) -> Any:
        value = settings_mod.parse(key, raw)
        self.config[key] = value
        self.save_config()
        return value

    @property
    def url(self) -> str:
        return str(self.settings.get("host_name") or "").rstrip("/")

    # -- working ------------------------------------------------------------
    def session(self, user: str = "Administrator", meta_version: Any = None, **flags: Any) -> Session:
        """A session of ``user``; outside a transaction the DocTypes are reloaded first if another
        process changed one (``meta_version``: their version, when the caller read it already)."""
        if not self.db.in_transaction:
            self.metas.refresh(meta_version)
        return Session(self, user, **flags)

    def close(self) -> None:
        for service in self.services.values():
            stop = getattr(service, "stop", None)
            if stop:
                stop()
        self.db.close()


def _install(site: Site) -> None:
    """Register the hooks of every part of the system on this site."""
    from docstream.app import install

    install(site)
