"""``docstream backup`` and ``docstream restore``, run as a user runs them, on both backends."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from docstream.site import Site
from docstream.streaming.updatelog import log_head, restored_head
from tests.conftest import new_pg_url
from tests.support.servers import run_cli


def _site(tmp_path: Path, backend: str, name: str = "b.local") -> Path:
    args = ["new-site", name, "--admin-password", "before"]
    if backend == "postgres":
        args += ["--db-url", new_pg_url()]
    run_cli(tmp_path, *args)
    return tmp_path / name


def _users(tmp_path: Path, name: str = "b.local") -> set[str]:
    site = Site.open(name, tmp_path)
    try:
        return {u["name"] for u in site.session().get_list("User", fields=["name"], limit_page_length=0)}
    finally:
        site.close()


def _error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_backup_restored_brings_the_database_and_its_key_back(tmp_path: Path, backend: str) -> None:
    folder = _site(tmp_path, backend)
    run_cli(tmp_path, "user", "add", "kept@example.com", "--password", "kept-pass-1", site="b.local")
    made = run_cli(tmp_path, "backup", site="b.local").stdout.strip()
    backup = Path(made)
    assert backup.parent == folder / "backups"
    manifest = json.loads((backup / "backup.json").read_text())
    assert manifest["backend"] == backend and manifest["site"] == "b.local"
    assert (backup / manifest["database"]).stat().st_size > 0
    assert stat.S_IMODE((backup / "site_key").stat().st_mode) == 0o600  # the key is as private as the site's
    assert (backup / "site_key").read_bytes() == (folder / "site_key").read_bytes()

    run_cli(tmp_path, "user", "add", "later@example.com", site="b.local")
    old_key = (folder / "site_key").read_bytes()
    other_key = Fernet.generate_key()  # a key the restored database was never encrypted with
    (folder / "site_key").write_bytes(other_key)
    assert {"kept@example.com", "later@example.com"} <= _users(tmp_path)

    done = run_cli(tmp_path, "restore", made, "--yes", site="b.local")
    assert "re-baseline" in done.stdout
    users = _users(tmp_path)
    assert "kept@example.com" in users and "later@example.com" not in users
    assert (folder / "site_key").read_bytes() == old_key  # the backup's key came back with its database
    replaced = list(folder.glob("site_key.before-restore-*"))
    assert len(replaced) == 1 and replaced[0].read_bytes() == other_key
    site = Site.open("b.local", tmp_path)
    try:
        assert site.secrets.check_password("kept@example.com", "kept-pass-1")
        # where its update log went back to, for consumers that had read further (rebaseline.fork)
        assert restored_head(site.db) == log_head(site.db) is not None
    finally:
        site.close()


def test_a_backup_to_a_folder_of_ones_choice(tmp_path: Path) -> None:
    _site(tmp_path, "sqlite")
    made = Path(run_cli(tmp_path, "backup", "--to", str(tmp_path / "elsewhere"), site="b.local").stdout.strip())
    assert made.parent == tmp_path / "elsewhere" and (made / "database.sqlite3").is_file()


def test_a_restore_that_cannot_be_made_changes_nothing(tmp_path: Path) -> None:
    _site(tmp_path, "sqlite")
    made = Path(run_cli(tmp_path, "backup", site="b.local").stdout.strip())
    run_cli(tmp_path, "user", "add", "stays@example.com", site="b.local")

    _error(run_cli(tmp_path, "restore", str(tmp_path), "--yes", site="b.local", check=False), "is not a docstream backup")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in ("backup.json", "site_key", "site.json"):
        (damaged / name).write_bytes((made / name).read_bytes())
    (damaged / "database.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    _error(run_cli(tmp_path, "restore", str(damaged), "--yes", site="b.local", check=False), "damaged")
    (damaged / "database.sqlite3").write_bytes(b"not a database at all" * 100)
    _error(run_cli(tmp_path, "restore", str(damaged), "--yes", site="b.local", check=False), "not a readable SQLite database")
    (damaged / "backup.json").write_text(json.dumps({**json.loads((made / "backup.json").read_text()),
                                                     "backend": "postgres", "database": "database.pgdump"}))
    (damaged / "database.pgdump").write_bytes(b"x")
    _error(run_cli(tmp_path, "restore", str(damaged), "--yes", site="b.local", check=False), "backup of a postgres site")
    _error(run_cli(tmp_path, "restore", str(made), "--yes", site="nosuch.local", check=False), "no site 'nosuch.local'")
    declined = subprocess.run([sys.executable, "-m", "docstream", "--sites-dir", str(tmp_path), "--site", "b.local",
                               "restore", str(made)], input="n\n", capture_output=True, text=True, timeout=60)
    assert declined.returncode != 0 and "Aborted" in declined.stderr
    assert "stays@example.com" in _users(tmp_path)  # none of it touched the site


def test_a_postgresql_site_in_use_is_not_restored(tmp_path: Path, postgres: str) -> None:
    _site(tmp_path, "postgres")
    made = run_cli(tmp_path, "backup", site="b.local").stdout.strip()
    run_cli(tmp_path, "user", "add", "stays@example.com", site="b.local")
    site = Site.open("b.local", tmp_path)  # as a served site holds its connections
    try:
        _error(run_cli(tmp_path, "restore", made, "--yes", site="b.local", check=False), "stop the site's processes")
        assert site.session().exists("User", "stays@example.com")
    finally:
        site.close()
    assert "stays@example.com" in _users(tmp_path)
