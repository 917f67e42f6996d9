"""The command line (SPEC §2), run as a user runs it: a real ``docstream`` process per command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from docstream.site import Site
from tests.conftest import new_pg_url
from tests.support.servers import run_cli


def docstream(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``docstream ARGS`` without --sites-dir (to test how the folder is found)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSTREAM_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "docstream", *args], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=120)


def assert_user_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A user error: non-zero status, one line on stderr naming the problem, never a traceback."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.rstrip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), repr(proc.stderr)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sites folder holding one SQLite site, ``cli.local``, shared by the tests of this module."""
    path = tmp_path_factory.mktemp("sites")
    run_cli(path, "new-site", "cli.local", "--admin-password", "secret", "--url", "http://cli.local:8000")
    return path


def cli(sites: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(sites, *args, check=False, site="cli.local")


def open_site(sites: Path) -> Site:
    return Site.open("cli.local", sites)


# -- new-site ----------------------------------------------------------------------------------------

def test_new_site_writes_site_json_and_a_sqlite_database(sites: Path) -> None:
    folder = sites / "cli.local"
    config = json.loads((folder / "site.json").read_text())
    assert config == {"db_url": f"sqlite:///{folder / 'site.db'}", "host_name": "http://cli.local:8000"}
    assert (folder / "site.db").exists()
    site = open_site(sites)
    try:
        assert site.secrets.check_password("Administrator", "secret")
        assert site.url == "http://cli.local:8000"
    finally:
        site.close()


def test_sites_dir_from_the_environment(tmp_path: Path) -> None:
    env_dir = tmp_path / "from-env"
    proc = docstream("new-site", "env.local", "--admin-password", "pw", cwd=tmp_path,
                     env={"DOCSTREAM_SITES": str(env_dir)})
    assert proc.returncode == 0, proc.stderr
    assert "Created site env.local" in proc.stdout
    assert (env_dir / "env.local" / "site.json").exists()
    proc = docstream("--site", "env.local", "set-config", "poll_interval", "5", cwd=tmp_path,
                     env={"DOCSTREAM_SITES": str(env_dir)})
    assert proc.returncode == 0, proc.stderr


def test_default_sites_dir_is_dot_sites(tmp_path: Path) -> None:
    proc = docstream("new-site", "here.local", "--admin-password", "pw", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "sites" / "here.local" / "site.json").exists()


def test_sites_dir_option_wins_over_the_environment(tmp_path: Path) -> None:
    proc = docstream("--sites-dir", str(tmp_path / "option"), "new-site", "opt.local", "--admin-password", "pw",
                     cwd=tmp_path, env={"DOCSTREAM_SITES": str(tmp_path / "env")})
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "option" / "opt.local").exists() and not (tmp_path / "env").exists()


def test_new_site_on_postgresql_creates_the_database(postgres: str, tmp_path: Path) -> None:
    url = new_pg_url()
    proc = run_cli(tmp_path, "new-site", "pg.local", "--admin-password", "pw", "--db-url", url, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "(postgres)" in proc.stdout
    assert json.loads((tmp_path / "pg.local" / "site.json").read_text())["db_url"] == url
    site = Site.open("pg.local", tmp_path)
    try:
        assert site.db.dialect == "postgres" and site.session().exists("User", "Administrator")
    finally:
        site.close()


@pytest.mark.parametrize(("args", "fragment"), [
    (["new-site", "cli.local", "--admin-password", "x"], "already exists"),
    (["new-site", "bad name!", "--admin-password", "x"], "invalid site name"),
    (["new-site", "x.local", "--admin-password", ""], "--admin-password is required"),
    (["new-site", "y.local", "--admin-password", "x", "--db-url", "mysql://h/db"], "unsupported database URL"),
    (["new-site", "z.local", "--admin-password", "x", "--db-url", "postgresql://postgres@127.0.0.1:1/x"],
     "cannot reach PostgreSQL"),
])
def test_new_site_errors(sites: Path, args: list[str], fragment: str) -> None:
    assert_user_error(run_cli(sites, *args, check=False), fragment)


def test_missing_required_option_is_a_usage_error(sites: Path) -> None:
    proc = run_cli(sites, "new-site", "q.local", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--admin-password" in proc.stderr


def test_unknown_site(sites: Path) -> None:
    assert_user_error(run_cli(sites, "set-config", "poll_interval", "3", site="nowhere.local", check=False),
                      "no site 'nowhere.local'", "new-site")


def test_a_site_command_without_site(sites: Path) -> None:
    assert_user_error(run_cli(sites, "set-config", "poll_interval", "3", check=False), "--site")


# -- set-config ----------------------------------------------------------------------------------------

def test_set_config(sites: Path) -> None:
    proc = cli(sites, "set-config", "poll_interval", "12")
    assert proc.returncode == 0 and proc.stdout.strip() == "poll_interval = 12"
    proc = cli(sites, "set-config", "host_name", "http://cli.example.com")
    assert proc.returncode == 0, proc.stderr
    config = json.loads((sites / "cli.local" / "site.json").read_text())
    assert (config["poll_interval"], config["host_name"]) == (12, "http://cli.example.com")
    site = open_site(sites)
    try:
        assert site.settings["poll_interval"] == 12 and site.url == "http://cli.example.com"
    finally:
        site.close()
    cli(sites, "set-config", "host_name", "http://cli.local:8000")


def test_sqlite_synchronous_is_how_durable_each_commit_is(sites: Path) -> None:
    def synchronous() -> int:
        site = open_site(sites)
        try:
            return site.db.value("PRAGMA synchronous")  # 1 NORMAL, 2 FULL: what SQLite itself says
        finally:
            site.close()

    assert synchronous() == 1
    proc = cli(sites, "set-config", "sqlite_synchronous", "FULL")
    assert proc.returncode == 0 and proc.stdout.strip() == "sqlite_synchronous = full"
    try:
        assert synchronous() == 2
    finally:
        cli(sites, "set-config", "sqlite_synchronous", "normal")
    assert synchronous() == 1


@pytest.mark.parametrize(("key", "value", "fragment"), [
    ("colour", "red", "unknown setting 'colour'"),
    ("sqlite_synchronous", "off", "must be one of normal, full"),
    ("poll_interval", "soon", "must be a whole number"),
    ("pull_page_size", "-1", "can't be negative"),
])
def test_set_config_refuses_bad_input(sites: Path, key: str, value: str, fragment: str) -> None:
    before = (sites / "cli.local" / "site.json").read_text()
    assert_user_error(cli(sites, "set-config", key, value), fragment)
    assert (sites / "cli.local" / "site.json").read_text() == before


# -- doctype import ------------------------------------------------------------------------------------

def test_doctype_import_and_a_second_import_that_adds_a_field(sites: Path, tmp_path: Path) -> None:
    definition = {
        "name": "Vehicle", "module": "Fleet", "autoname": "field:plate",
        "fields": [{"fieldname": "plate", "fieldtype": "Data", "reqd": 1, "label": "Plate", "print_hide": 1},
                   {"fieldname": "seats", "fieldtype": "Int"}],
        "permissions": [{"role": "System Manager", "read": 1, "write": 1, "create": 1, "delete": 1}],
        "doctype": "DocType", "creation": "2020-01-01 00:00:00", "track_changes": 1,  # Frappe export keys
    }
    path = tmp_path / "vehicle.json"
    path.write_text(json.dumps(definition))
    proc = cli(sites, "doctype", "import", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Imported Vehicle"

    definition["fields"].append({"fieldname": "colour", "fieldtype": "Select", "options": "Red\nBlue"})
    path.write_text(json.dumps(definition))
    proc = cli(sites, "doctype", "import", str(path))
    assert proc.returncode == 0, proc.stderr

    site = open_site(sites)
    try:
        assert {"plate", "seats", "colour"} <= site.db.table_columns("tabVehicle")
        doc = site.session().insert({"doctype": "Vehicle", "plate": "AB-123", "seats": "5", "colour": "Blue"})
        assert (doc["name"], doc["seats"]) == ("AB-123", 5)
    finally:
        site.close()


def test_doctype_import_of_a_list(sites: Path, tmp_path: Path) -> None:
    path = tmp_path / "pair.json"
    path.write_text(json.dumps([
        {"name": "Trip Stop", "istable": 1, "fields": [{"fieldname": "place", "fieldtype": "Data"}]},
        {"name": "Trip", "fields": [{"fieldname": "stops", "fieldtype": "Table", "options": "Trip Stop"}],
         "permissions": [{"role": "System Manager", "read": 1}]},
    ]))
    proc = cli(sites, "doctype", "import", str(path))
    assert proc.returncode == 0 and proc.stdout.strip() == "Imported Trip Stop, Trip"


@pytest.mark.parametrize(("content", "fragment"), [
    ("{not json", "Expecting property name"),
    ('{"fields": []}', "with a name"),
    ('{"name": "Broken", "fields": [{"fieldname": "x", "fieldtype": "Hologram"}]}', "Hologram"),
    ('[{"name": "Fine", "fields": []}, {"name": "Bad/Name"}]', "invalid DocType name"),
    ('"just text"', "with a name"),
])
def test_doctype_import_errors(sites: Path, tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert_user_error(cli(sites, "doctype", "import", str(path)), fragment)
    site = open_site(sites)
    try:
        assert not site.metas.exists("Fine") and not site.metas.exists("Broken")  # all or nothing
    finally:
        site.close()


def test_doctype_import_of_a_missing_file(sites: Path) -> None:
    proc = cli(sites, "doctype", "import", "/no/such/file.json")
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and "does not exist" in proc.stderr


# -- users -----------------------------------------------------------------------------------------------

def test_user_add_and_generate_keys(sites: Path) -> None:
    proc = cli(sites, "user", "add", "Sync@Example.com", "--password", "pw1", "--roles", "Sales User, Stock User")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Created user sync@example.com"

    proc = cli(sites, "user", "generate-keys", "sync@example.com")
    assert proc.returncode == 0, proc.stderr
    keys = json.loads(proc.stdout)
    assert set(keys) == {"api_key", "api_secret"} and all(keys.values())

    again = json.loads(cli(sites, "user", "generate-keys", "sync@example.com").stdout)
    assert again["api_key"] == keys["api_key"] and again["api_secret"] != keys["api_secret"]

    site = open_site(sites)
    try:
        user = site.session().get("User", "sync@example.com")
        assert {r["role"] for r in user["roles"]} == {"Sales User", "Stock User"}
        assert user["api_key"] == keys["api_key"] and user["api_secret"] == "*" * 8
        assert site.secrets.check_password("sync@example.com", "pw1")
        assert site.secrets.check_api_secret("sync@example.com", again["api_secret"])
        assert not site.secrets.check_api_secret("sync@example.com", keys["api_secret"])  # the old one stops
    finally:
        site.close()


@pytest.mark.parametrize(("args", "fragment"), [
    (["user", "add", "admin@example.com"], "already exists"),
    (["user", "add", "not-an-email"], "not a valid email"),
    (["user", "add", "new@example.com", "--roles", "Astronaut"], "could not find Role 'Astronaut'"),
    (["user", "generate-keys", "ghost@example.com"], "ghost@example.com not found"),
])
def test_user_errors(sites: Path, args: list[str], fragment: str) -> None:
    if args[:3] == ["user", "add", "admin@example.com"]:
        cli(sites, "user", "add", "admin@example.com")
    assert_user_error(cli(sites, *args), fragment)


# -- sync ----------------------------------------------------------------------------------------------

def test_sync_pull_errors_are_one_line(sites: Path) -> None:
    """The progress bar (on stderr) draws nothing off a terminal, and leaves no line before the error."""
    assert_user_error(cli(sites, "sync", "pull", "http://nowhere.local:8000"),
                      "no Event Producer http://nowhere.local:8000")
