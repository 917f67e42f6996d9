"""``docstream sync pull|status|resync`` and ``docstream worker``."""

from __future__ import annotations

import json
import signal
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from docstream.cli import Context, handle_errors


@click.group()
def sync() -> None:
    """Event streaming: pull now, see where things stand, retry failed events."""


@sync.command("pull")
@click.argument("producer_url", required=False)
@click.pass_obj
@handle_errors
def sync_pull(ctx: Context, producer_url: str | None) -> None:
    """Pull now from one or every Event Producer, with a progress bar."""
    from docstream.streaming.pull import pull

    console = Console(stderr=True)
    # on a terminal only: elsewhere it would draw nothing but leave a newline before any error
    with Progress(TextColumn("pulling"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("pull", total=None)
        start: dict[str, int] = {}

        def progress(position: int, head: int) -> None:
            start.setdefault("at", position)
            bar.update(task, completed=position - start["at"], total=max(1, head - start["at"]))

        counts = pull(ctx.site, producer_url, progress)
    click.echo(f"synced {counts['synced']}, failed {counts['failed']}, held {counts['held']}")


@sync.command("status")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@click.pass_obj
@handle_errors
def sync_status(ctx: Context, as_json: bool) -> None:
    """Per producer: cursor, events behind, failed events, last success, last error, next attempt."""
    from docstream.streaming import status

    result = status(ctx.site.session())
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    _show("Event Producers (this site consumes)",
          ("producer", "cursor", "behind", "failed", "held", "last success", "last error", "next attempt"),
          [(p["producer_url"], str(p["cursor"]), str(p["behind"]), str(p["failed"]), str(p["held"]),
            p["last_success"] or "-", (p["last_error"] or "-")[:80], p["next_attempt"] or "-")
           for p in result["producers"]])
    for p in result["producers"]:
        if p.get("rebaselined"):
            click.echo(f"re-baselined: {p['rebaselined']}")
    if result["consumers"]:
        _show("Event Consumers (this site produces)", ("consumer", "cursor", "behind", "last seen", "doctypes"),
              [(c["callback_url"], str(c["cursor"]), str(c["behind"]), c["last_seen"] or "-",
                ", ".join(f"{d['ref_doctype']} ({d['status']})" for d in c["doctypes"])) for c in result["consumers"]])


def _show(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A table when it fits the terminal whole (a pipe counts as 80 columns, or ``COLUMNS``);
    else one block per row, headed by its first value: a URL or a timestamp is never cut short."""
    console = Console()
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    if console.measure(table, options=console.options.update_width(10**6)).maximum <= console.width:
        console.print(table)
        return
    click.echo(title)
    width = max(len(column) for column in columns[1:])
    for row in rows:
        click.echo(f"\n{row[0]}")
        for column, value in zip(columns[1:], row[1:]):
            click.echo(f"  {column.ljust(width)}  {value}")


@sync.command("rebaseline")
@click.argument("producer_url")
@click.pass_obj
@handle_errors
def sync_rebaseline(ctx: Context, producer_url: str) -> None:
    """Ask a producer to send every subscribed document again, then pull them."""
    from docstream.streaming import checkpoint
    from docstream.streaming.pull import producer_names, pull_producer

    (name,) = producer_names(ctx.site, producer_url)
    counts = pull_producer(ctx.site, name, rebaseline=True)
    click.echo(f"synced {counts['synced']}, failed {counts['failed']}, held {counts['held']}")
    click.echo(f"re-baselined: {checkpoint.state(ctx.site.db, name).get('rebaselined') or ''}")


@sync.command("compare")
@click.argument("producer_url")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of text")
@click.pass_obj
@handle_errors
def sync_compare(ctx: Context, producer_url: str, as_json: bool) -> None:
    """Which documents of each approved DocType only this site, or only the producer, has.
    Exit status 1 when any differ."""
    from docstream.streaming.compare import compare

    found = compare(ctx.site, producer_url)
    if as_json:
        click.echo(json.dumps([{"doctype": d.doctype, "only_here": d.only_here, "only_there": d.only_there,
                                "skipped": d.skipped} for d in found], indent=2))
    for d in found if not as_json else []:
        if d.skipped:
            click.echo(f"{d.doctype}: not compared ({d.skipped})")
            continue
        click.echo(f"{d.doctype}: {'the same' if not d.differs else 'differs'}")
        for label, names in (("only here (came from the producer, which no longer has them)", d.only_here),
                             ("only there (no copy here)", d.only_there)):
            if names:
                shown = ", ".join(names[:20]) + (f", … ({len(names) - 20} more)" if len(names) > 20 else "")
                click.echo(f"  {label}: {len(names)}: {shown}")
    if any(d.differs for d in found):
        sys.exit(1)


@sync.command("forget")
@click.argument("producer_url")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.pass_obj
@handle_errors
def sync_forget(ctx: Context, producer_url: str, yes: bool) -> None:
    """Delete an Event Producer here without telling the producer: for one that is gone for good
    (deleting it otherwise ends the subscription there first, and waits until it can)."""
    from docstream.streaming.pull import producer_names

    (name,) = producer_names(ctx.site, producer_url)
    if not yes:
        click.confirm(f"Delete the Event Producer {name} here, without ending the subscription there?", abort=True)
    ctx.site.session(ignore_permissions=True, forget_remote=True).delete("Event Producer", name)
    click.echo(f"deleted the Event Producer {name}; if that site ever comes back, delete its Event Consumer "
               f"for this site there ({ctx.site.url or ctx.site.name})")


@sync.command("resync")
@click.argument("sync_log", required=False)
@click.option("--all-failed", is_flag=True, help="retry every failed event, oldest first")
@click.pass_obj
@handle_errors
def sync_resync(ctx: Context, sync_log: str | None, all_failed: bool) -> None:
    """Retry failed events: one Event Sync Log, or --all-failed."""
    from docstream.streaming import resync, resync_all_failed

    if bool(sync_log) == bool(all_failed):
        raise click.UsageError("give either a SYNC_LOG_NAME or --all-failed")
    if all_failed:
        counts = resync_all_failed(ctx.site.session())
        click.echo(f"synced {counts['synced']}, still failed {counts['failed']}")
    else:
        click.echo(resync(ctx.site.session(), sync_log))


@click.command("worker")
@click.pass_obj
@handle_errors
def worker(ctx: Context) -> None:
    """Run the site's background work (pulls, retries, pruning) in this process until stopped."""
    from docstream.jobs import BackgroundWorker

    background = BackgroundWorker(ctx.site)
    signal.signal(signal.SIGTERM, lambda *_: background.stop())
    click.echo(f"worker for {ctx.site.name} running; Ctrl-C to stop", err=True)
    try:
        background.run_forever()
    except KeyboardInterrupt:
        background.stop()


COMMANDS = [sync, worker]
