"""``docstream --site NAME serve``: the site's HTTP API and web desk, plus its background work."""

from __future__ import annotations

import logging
import signal
import socket
import sys
from typing import Any

import click

from docstream.cli import Context, handle_errors
from docstream.errors import ValidationError

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="the address to listen on")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="the port to listen on")
@click.option("--no-worker", is_flag=True, help="don't run background work (pulls, notifications) in this process")
@click.pass_obj
@handle_errors
def serve(ctx: Context, host: str, port: int, no_worker: bool) -> None:
    """Serve the site's HTTP API and web UI (and its background work, unless --no-worker)."""
    import uvicorn

    from docstream.api.app import create_app

    site = ctx.site
    listener = _listen(host, port)  # before anything starts: a port in use is a user error
    port = listener.getsockname()[1]
    _configure_logging()
    config = uvicorn.Config(
        create_app(site, worker=not no_worker), host=host, port=port, log_level="warning",
        access_log=False, lifespan="on", server_header=False, log_config=None,
    )
    click.echo(f"Serving {site.name} on http://{host}:{port}", err=True)
    previous = {sig: signal.signal(sig, _exit_cleanly) for sig in _STOP_SIGNALS}
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        site.close()


def _listen(host: str, port: int) -> socket.socket:
    """The socket the server will accept on, bound as uvicorn binds its own (port 0: any free one)."""
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise ValidationError(f"can't listen on {host}:{port}: {exc.strerror or exc} — stop what uses it, "
                              "or choose another --port or --host") from exc
    return listener


def _exit_cleanly(signum: int, frame: Any) -> None:
    """uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal: end with status 0."""
    raise SystemExit(0)


class OneLineFormatter(logging.Formatter):
    """Every record's message on one line: control characters in it (a line feed that came from a
    request, a remote site's error text) are escaped; a traceback, which follows the message,
    keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        from docstream.api.context import one_line

        record.message = one_line(record.message, backslashes=False)
        return super().formatMessage(record)


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(OneLineFormatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    for noisy in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


COMMANDS = [serve]
