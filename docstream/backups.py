"""Backing up a site and restoring it: its database, and the key its stored secrets need.

A backup is a folder: the database (SQLite: a copy made with SQLite's online backup API, consistent
while the site is served; PostgreSQL: ``pg_dump --format=custom``, one snapshot), ``site.json``,
``site_key`` (without it the API secrets of Event Producers and Event Consumers stored in that
database can't be decrypted) and ``backup.json``, which says what the folder holds.

Restoring puts the database back whole, or changes nothing: SQLite copies the backup into the
site's file through the same backup API (one write transaction); PostgreSQL restores into a new
database and swaps the names only when ``pg_restore`` has succeeded. The site's ``site.json``
stays (it says where the database is and what the site is called); its ``site_key`` becomes the
backup's. A restored producer gives its consumers sequence numbers again that they have read:
they notice and re-baseline on their next pull (docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from docstream import __version__
from docstream.errors import DoesNotExistError, StorageError, ValidationError
from docstream.storage.open import sqlite_path

MANIFEST = "backup.json"
FILES = {"sqlite": "database.sqlite3", "postgres": "database.pgdump"}


def backend_of(db_url: str) -> str:
    return "postgres" if sqlite_path(db_url) is None else "sqlite"


def backup(site_path: Path, config: dict[str, Any], to: Path | None = None) -> Path:
    """Write a backup of the site in ``site_path`` into a new folder (under ``to``, default the
    site's ``backups``); the folder."""
    backend = backend_of(config["db_url"])
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    folder = (to or site_path / "backups") / f"{stamp}-{site_path.name}"
    folder.mkdir(parents=True, mode=0o700)
    try:
        database, path = folder / FILES[backend], sqlite_path(config["db_url"])
        if path is not None:
            _sqlite_copy(path, database, journal="DELETE")  # one self-contained file
        else:
            _run("pg_dump", config["db_url"], "--format=custom", "--no-owner", f"--file={database}")
        shutil.copyfile(site_path / "site.json", folder / "site.json")
        _copy_private(site_path / "site_key", folder / "site_key")
        manifest = {"site": site_path.name, "backend": backend, "database": database.name,
                    "created": dt.datetime.now().isoformat(" ", "seconds"), "docstream": __version__}
        (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def restore(site_path: Path, config: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Put the database (and the key) of the backup in ``folder`` back into the site; the backup's
    manifest. The site's processes must be stopped first."""
    manifest = read_manifest(folder)
    backend = backend_of(config["db_url"])
    if manifest["backend"] != backend:
        raise ValidationError(f"{folder} is a backup of a {manifest['backend']} site; this site is on {backend}")
    database, path = folder / manifest["database"], sqlite_path(config["db_url"])
    if path is not None:
        _sqlite_restore(database, path)
    else:
        _postgres_restore(database, config["db_url"])
    _note_restore(config["db_url"])
    key = site_path / "site_key"
    if (folder / "site_key").read_bytes() != (key.read_bytes() if key.exists() else b""):
        if key.exists():  # the key of the database that was there: kept, not lost
            os.replace(key, site_path / f"site_key.before-restore-{dt.datetime.now():%Y%m%d-%H%M%S}")
        _copy_private(folder / "site_key", key)
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    if not path.is_file():
        raise DoesNotExistError(f"{folder} is not a docstream backup (it has no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("backend") not in FILES or manifest.get("database") != FILES[manifest["backend"]]:
        raise ValidationError(f"{path} does not describe a docstream backup")
    for name in (manifest["database"], "site_key"):
        if not (folder / name).is_file():
            raise DoesNotExistError(f"the backup in {folder} has no {name}")
    return manifest


# -- SQLite ------------------------------------------------------------------------
def _sqlite_copy(source: str | Path, target: str | Path, journal: str | None = None) -> None:
    """Copy ``source`` into ``target`` with the backup API (``journal``: the copy's journal mode)."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        if journal:
            dst.execute(f"PRAGMA journal_mode={journal}")
    except sqlite3.Error as exc:
        raise StorageError(f"could not copy the database {source}: {exc}") from exc
    finally:
        dst.close()
        src.close()


def _sqlite_restore(backup_file: Path, target: str) -> None:
    try:
        check = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        try:
            ok = check.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        finally:
            check.close()
    except sqlite3.DatabaseError as exc:
        raise ValidationError(f"{backup_file} is not a readable SQLite database: {exc}") from exc
    if not ok:
        raise ValidationError(f"{backup_file} fails SQLite's check: it is damaged")
    _sqlite_copy(backup_file, target)  # one write transaction on the site's file: all of it or nothing


# -- PostgreSQL --------------------------------------------------------------------
def _postgres_restore(dump: Path, db_url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(db_url)
    name = parts.path.lstrip("/")
    restoring, replaced = f"{name[:45]}__restoring", f"{name[:45]}__replaced"  # within PostgreSQL's 63 bytes
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        busy = conn.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                            (name,)).fetchone()[0]
        if busy:
            raise ValidationError(f"the database {name} has {busy} other connection(s): stop the site's processes "
                                  "(serve, worker) before restoring it")
        for stale in (restoring, replaced):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(stale)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(restoring)))
    try:
        _run("pg_restore", urlunsplit(parts._replace(path="/" + restoring)), "--no-owner", "--exit-on-error", str(dump))
    except BaseException:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(restoring)))
        raise
    with psycopg.connect(admin, autocommit=True) as conn:
        with conn.transaction():  # the swap, both renames or neither (each needs no one connected)
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(name), sql.Identifier(replaced)))
            conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(restoring), sql.Identifier(name)))
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(replaced)))


def _note_restore(db_url: str) -> None:
    """Tell the restored database where its update log went back to: consumers that had read
    further re-baseline from there (docstream/streaming/rebaseline.py)."""
    from docstream.storage import open_database
    from docstream.streaming.updatelog import note_restore

    db = open_database(db_url)
    try:
        with db.transaction():
            note_restore(db)
    finally:
        db.close()


# -- helpers -----------------------------------------------------------------------
def _copy_private(source: Path, target: Path) -> None:
    tmp = target.with_name(target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(source.read_bytes())
    os.replace(tmp, target)


def _run(tool: str, db_url: str, *args: str) -> None:
    """Run a PostgreSQL client tool on ``db_url``; a password in it goes by the environment, never
    on the command line (where ``ps`` shows it)."""
    if shutil.which(tool) is None:
        raise StorageError(f"{tool} is not installed: PostgreSQL's client tools are needed to back up and restore "
                           "a PostgreSQL site (Debian: apt-get install postgresql-client)")
    parts = urlsplit(db_url)
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username
        parts = parts._replace(netloc=f"{user}@{netloc}" if user else netloc)
    done = subprocess.run([tool, f"--dbname={urlunsplit(parts)}", *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise StorageError(f"{tool} failed: {done.stderr.strip()[-1000:]}")
