"""``docstream demo``: a head office and N stores streaming to each other (SPEC §8)."""

from __future__ import annotations

import signal
import sys
from typing import Any

import click

from docstream.cli import handle_errors


@click.command()
@click.option("--stores", default=2, show_default=True, type=click.IntRange(1, 20), help="how many store sites")
@click.option("--keep-running", is_flag=True,
              help="leave the sites up afterwards and print their web UI addresses and logins (Ctrl-C stops them)")
@handle_errors
def demo(stores: int, keep_running: bool) -> None:
    """Build a head office and N stores on SQLite, stream master data and invoices between them,
    show the figures and check that every site converged (exit status 0 only then)."""
    from docstream.demo import run

    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(run(stores=stores, keep_running=keep_running))


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM ends the demo like Ctrl-C: the served sites are stopped on the way out."""
    raise KeyboardInterrupt


COMMANDS = [demo]
