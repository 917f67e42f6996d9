"""``docstream backup`` and ``docstream restore``: a site's database and key, in a folder and back."""

from __future__ import annotations

import json
from pathlib import Path

import click

from docstream.cli import Context, handle_errors
from docstream.errors import DoesNotExistError, ValidationError
from docstream.site import sites_dir


def _site_folder(ctx: Context) -> tuple[Path, dict]:
    """The site's folder and settings, read without opening its database (a restore replaces it)."""
    if not ctx.site_name:
        raise ValidationError("this command needs --site NAME (or DOCSTREAM_SITE)")
    folder = sites_dir(ctx.sites_dir) / ctx.site_name
    if not (folder / "site.json").is_file():
        raise DoesNotExistError(f"no site {ctx.site_name!r} in {folder.parent}")
    return folder, json.loads((folder / "site.json").read_text())


@click.command("backup")
@click.option("--to", "to", type=click.Path(file_okay=False), help="the folder to put the backup in "
              "(default: the site's backups folder)")
@click.pass_obj
@handle_errors
def backup(ctx: Context, to: str | None) -> None:
    """Back up the site's database and key into a new folder (safe while the site is served);
    prints the folder."""
    from docstream import backups

    folder, config = _site_folder(ctx)
    click.echo(str(backups.backup(folder, config, Path(to).resolve() if to else None)))


@click.command("restore")
@click.argument("backup_folder", type=click.Path(exists=True, file_okay=False))
@click.option("--yes", is_flag=True, help="don't ask for confirmation")
@click.pass_obj
@handle_errors
def restore(ctx: Context, backup_folder: str, yes: bool) -> None:
    """Replace the site's database (and key) with a backup's. Stop the site's processes first."""
    from docstream import backups

    folder, config = _site_folder(ctx)
    manifest = backups.read_manifest(Path(backup_folder))
    if not yes:
        click.confirm(f"Replace the database of {folder.name} with the backup of {manifest['site']} "
                      f"made {manifest.get('created', '?')}?", abort=True)
    backups.restore(folder, config, Path(backup_folder))
    click.echo(f"restored {folder.name} from {backup_folder} (made {manifest.get('created', '?')}); its consumers "
               "will re-baseline from it on their next pull")


COMMANDS = (backup, restore)
