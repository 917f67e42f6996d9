"""A TCP proxy that sits between a consumer and its producer and misbehaves on purpose.

The consumer's Event Producer uses the proxy's URL as ``producer_url``; every call the consumer
makes to the producer (registration, the change feed, dependency fetches) passes through here.
The proxy speaks just enough HTTP/1.1 to see one request and its answer per connection (it asks
the producer to close after answering, and tells the consumer the same), so it can:

    pass        forward both ways unchanged (the default)
    delay       hold the answer for ``seconds`` before sending it on
    refuse      close the consumer's connection without forwarding the request
    reset       abort the connection with a TCP reset, request not forwarded
    drop        forward the request (the producer does the work) but never send the answer
    cut         send the answer's head and ``keep`` bytes of its body, then close (mid-response)
    truncate    send only ``keep`` bytes of the body, with a Content-Length that matches them
    status      answer ``status`` itself (e.g. 503) without forwarding
    rewrite     send ``rewrite(body) -> body`` instead of the producer's body
                (any rule may also carry ``rewrite_request``: the request body as forwarded)
    blackhole   accept and read the request, then say nothing until the client gives up

Faults are rules: the first rule whose ``match`` is in the request path and that has uses left
decides. ``down()`` stops listening (connection refused) until ``up()``. Every request is
recorded in ``log`` with the action taken, so a test can assert what the consumer went through.
Runs an asyncio loop on its own thread; nothing here blocks the test.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("pass", "delay", "refuse", "reset", "drop", "cut", "truncate", "status", "rewrite", "blackhole")
READ_LIMIT = 256 * 1024 * 1024


@dataclass
class Fault:
    """One rule: what to do to requests whose path contains ``match``."""

    match: str
    action: str
    times: int | None = None  # None: for ever
    seconds: float = 0.0
    keep: int = 0
    status: int = 503
    rewrite: Callable[[bytes], bytes] | None = None
    rewrite_request: Callable[[bytes], bytes] | None = None
    probability: float = 1.0
    used: int = 0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown proxy action {self.action!r}; one of {', '.join(ACTIONS)}")

    def live(self) -> bool:
        return self.times is None or self.used < self.times


@dataclass
class Seen:
    """One request through the proxy and what was done to it."""

    path: str
    action: str
    request: dict[str, Any] = field(default_factory=dict)
    status: int | None = None
    at: float = field(default_factory=time.monotonic)


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1", seed: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.faults: list[Fault] = []
        self.log: list[Seen] = []
        self.random = random.Random(seed)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = _free_port()

    # -- control (called from the test's thread) -------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        self.up()
        return self

    def up(self) -> None:
        if self._server is None:
            self._server = self._run(asyncio.start_server(self._handle, "127.0.0.1", self.port,
                                                          reuse_address=True, limit=READ_LIMIT))

    def down(self) -> None:
        """Stop listening and cut every open connection: the producer looks unreachable."""
        server, self._server = self._server, None
        if server is not None:
            self._run(self._close(server))

    def stop(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def fault(self, match: str, action: str, times: int | None = None, **options: Any) -> Fault:
        rule = Fault(match, action, times, **options)
        with self._lock:
            self.faults.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def seen(self, match: str = "", action: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.log if match in s.path and (action is None or s.action == action)]

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _close(self, server: asyncio.AbstractServer) -> None:
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    # -- the proxying (on the loop's thread) -----------------------------------
    def _choose(self, path: str) -> Fault | None:
        with self._lock:
            for rule in self.faults:
                if rule.match in path and rule.live():
                    if rule.probability < 1.0 and self.random.random() >= rule.probability:
                        continue
                    rule.used += 1
                    return rule
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve_one(reader, writer)
        except (asyncio.CancelledError, ConnectionError, asyncio.IncompleteReadError):
            _abort(writer)
        finally:
            self._tasks.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, headers = _parse_head(head)
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        path = request_line.split(" ")[1] if " " in request_line else request_line
        rule = self._choose(path)
        action = rule.action if rule else "pass"
        seen = Seen(path, action, _args(body))
        with self._lock:
            self.log.append(seen)
        if action == "refuse":
            return
        if action == "reset":
            _abort(writer)
            return
        if action == "blackhole":
            await reader.read()  # until the client gives up
            return
        if action == "status":
            seen.status = rule.status
            writer.write(_response(rule.status, json.dumps({"message": "injected by the fault proxy"}).encode()))
            await writer.drain()
            return
        if rule is not None and rule.rewrite_request is not None:
            body = rule.rewrite_request(body)
            head = _with_header(head, "Content-Length", str(len(body)))
        status, response_head, response_body = await self._forward(head, body)
        seen.status = status
        await self._answer(rule, writer, status, response_head, response_body)

    async def _forward(self, head: bytes, body: bytes) -> tuple[int, bytes, bytes]:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream, limit=READ_LIMIT)
        try:
            up_writer.write(_with_header(head, "Connection", "close") + body)
            await up_writer.drain()
            raw = await up_reader.read(-1)
        finally:
            up_writer.close()
        response_head, _, rest = raw.partition(b"\r\n\r\n")
        status_line, headers = _parse_head(response_head + b"\r\n\r\n")
        status = int(status_line.split(" ")[1])
        if headers.get("transfer-encoding", "").lower() == "chunked":
            rest = _dechunk(rest)
        return status, response_head + b"\r\n\r\n", rest

    async def _answer(self, rule: Fault | None, writer: asyncio.StreamWriter, status: int, head: bytes,
                      body: bytes) -> None:
        action = rule.action if rule else "pass"
        if action == "drop":
            return
        if action == "delay":
            await asyncio.sleep(rule.seconds)
        if action == "cut":
            writer.write(_with_length(head, len(body)) + body[: rule.keep])
            await writer.drain()
            _abort(writer)
            return
        if action == "truncate":
            body = body[: rule.keep]
        if action == "rewrite":
            body = rule.rewrite(body)
        writer.write(_with_length(head, len(body)) + body)
        await writer.drain()


# -- bits of HTTP/1.1 ----------------------------------------------------------------
def _parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    return lines[0], headers


def _with_header(head: bytes, name: str, value: str) -> bytes:
    lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    kept = [lines[0]] + [line for line in lines[1:] if not line.lower().startswith(name.lower() + ":")]
    return ("\r\n".join(kept + [f"{name}: {value}"]) + "\r\n\r\n").encode("latin-1")


def _with_length(head: bytes, length: int) -> bytes:
    lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    drop = ("content-length:", "transfer-encoding:", "connection:")
    kept = [lines[0]] + [line for line in lines[1:] if not line.lower().startswith(drop)]
    return ("\r\n".join(kept + [f"Content-Length: {length}", "Connection: close"]) + "\r\n\r\n").encode("latin-1")


def _response(status: int, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n\r\n".encode()
    return _with_length(head, len(body)) + body


def _dechunk(data: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = data.index(b"\r\n", pos)
        size = int(data[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += data[end + 2: end + 2 + size]
        pos = end + 2 + size + 2


def _args(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body) if body else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashed peer or a broken network would."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


__all__ = ["ACTIONS", "Fault", "FaultProxy", "Seen"]
