"""The ``docstream`` command: thin commands over the services (parse, call, translate errors)."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import click

from docstream.errors import DocstreamError, ValidationError
from docstream.site import Site


def _fail(message: str) -> None:
    one_line = " ".join(str(message).split())  # driver messages span lines; a user error is one line
    click.echo(f"Error: {one_line}", err=True)
    sys.exit(1)


def handle_errors(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DocstreamError as exc:
            _fail(exc.message)
        except (OSError, json.JSONDecodeError) as exc:
            _fail(str(exc))

    return wrapper


class Context:
    def __init__(self, sites_dir: str | None, site: str | None) -> None:
        self.sites_dir = sites_dir
        self.site_name = site
        self._site: Site | None = None

    @property
    def site(self) -> Site:
        if self._site is None:
            if not self.site_name:
                raise ValidationError("this command needs --site NAME (or DOCSTREAM_SITE)")
            self._site = Site.open(self.site_name, self.sites_dir)
        return self._site


@click.group()
@click.option("--site", "site", envvar="DOCSTREAM_SITE", help="the site to work on")
@click.option("--sites-dir", envvar="DOCSTREAM_SITES", help="the folder of sites (default ./sites)")
@click.pass_context
def main(ctx: click.Context, site: str | None, sites_dir: str | None) -> None:
    """docstream: Frappe-style sites that stream documents to each other."""
    ctx.obj = Context(sites_dir, site)


@main.command("new-site")
@click.argument("name")
@click.option("--admin-password", required=True, help="the Administrator's password")
@click.option("--db-url", help="sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME (created when missing)")
@click.option("--url", help="the address other sites use to reach this one (stored as host_name)")
@click.pass_obj
@handle_errors
def new_site(ctx: Context, name: str, admin_password: str, db_url: str | None, url: str | None) -> None:
    """Create a site."""
    site = Site.create(name, admin_password, ctx.sites_dir, db_url=db_url, url=url)
    click.echo(f"Created site {name} at {site.path} ({site.db.dialect})")
    site.close()


@main.command("set-config", context_settings={"ignore_unknown_options": True})  # a VALUE may start with "-"
@click.argument("key")
@click.argument("value")
@click.pass_obj
@handle_errors
def set_config(ctx: Context, key: str, value: str) -> None:
    """Change a site setting (host_name, poll_interval, …)."""
    stored = ctx.site.set_config(key, value)
    click.echo(f"{key} = {stored}")


@main.command("migrate")
@click.pass_obj
@handle_errors
def migrate(ctx: Context) -> None:
    """Bring the site's built-in DocTypes, roles and internal tables to this version's (after an
    upgrade); keeps all data, Custom Fields and the site's own DocTypes."""
    from docstream.model.doctypes import migrate as run

    done = run(ctx.site)
    for what, names in (("DocTypes added", done.added), ("DocTypes updated", done.updated), ("roles added", done.roles)):
        if names:
            click.echo(f"{what}: {', '.join(names)}")
    if not (done.added or done.updated or done.roles):
        click.echo("up to date: nothing to change")


@main.group()
def doctype() -> None:
    """DocType definitions."""


@doctype.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
@handle_errors
def doctype_import(ctx: Context, file: str) -> None:
    """Add or update a DocType from its JSON definition."""
    from docstream.model.doctypes import import_doctype

    definition = json.loads(Path(file).read_text())
    names = import_doctype(ctx.site.session(), definition)
    click.echo("Imported " + ", ".join(names))


@main.group()
def user() -> None:
    """Users and their API keys."""


@user.command("add")
@click.argument("email")
@click.option("--password", help="the user's password (without one, only API keys can log in)")
@click.option("--roles", default="", help="comma-separated roles, e.g. 'Sales User,Item Manager'")
@click.option("--first-name", default=None)
@click.pass_obj
@handle_errors
def user_add(ctx: Context, email: str, password: str | None, roles: str, first_name: str | None) -> None:
    """Create a user."""
    from docstream.auth.users import add_user

    doc = add_user(ctx.site.session(), email, password, [r.strip() for r in roles.split(",") if r.strip()], first_name)
    click.echo(f"Created user {doc['name']}")


@user.command("generate-keys")
@click.argument("email")
@click.pass_obj
@handle_errors
def user_generate_keys(ctx: Context, email: str) -> None:
    """(Re)generate a user's API key and secret; the secret is shown only here."""
    from docstream.auth.users import generate_keys

    click.echo(json.dumps(generate_keys(ctx.site.session(), email)))


def _register_commands() -> None:
    """Commands that live in their own modules (docstream/commands/)."""
    import importlib
    import pkgutil

    import docstream.commands as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"docstream.commands.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)


_register_commands()
