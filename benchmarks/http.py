"""HTTP API throughput against the limit of the server it runs on.

    python -m benchmarks.http                      # both backends, 5 s per measurement, 3 rounds
    python -m benchmarks.http --hello PORT         # serve the bare hello-world app (used by the suite)

A Python load generator (asyncio, raw HTTP/1.1 keep-alive connections, one request in flight per
connection) on loopback drives three targets in turns, each served by the same uvicorn
configuration as ``docstream serve`` (``docstream serve --no-worker`` for the site):

  GET one document     /api/resource/ToDo/<name>, token authentication
  GET list of 20       /api/resource/ToDo?fields=["*"]&limit_page_length=20, token authentication
  hello world          a bare ASGI app answering {"message": "ok"}: the server's own limit

Each figure is the median requests/s over the rounds; the ratio is against hello world.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import quote

from benchmarks import harness

CONNECTIONS = 8


# -- the bare server ------------------------------------------------------------------------------

async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest ASGI app: what the server itself costs per request."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b'{"message":"ok"}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def serve_hello(port: int) -> None:
    import uvicorn

    config = uvicorn.Config(hello, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            lifespan="on", server_header=False, log_config=None)
    uvicorn.Server(config).run()


# -- the load generator --------------------------------------------------------------------------

async def _client(host: str, port: int, request: bytes, deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"HTTP {status} during the load run: {head[:200]!r}")
            counts[0] += 1
    finally:
        writer.close()


async def _load(url: str, path: str, headers: dict[str, str], seconds: float, connections: int) -> float:
    host, port = url.split("//", 1)[1].split(":")
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    counts = [0]
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_client(host, int(port), request, deadline, counts) for _ in range(connections)))
    return counts[0] / (time.perf_counter() - start)


def load(url: str, path: str, headers: dict[str, str], seconds: float, connections: int = CONNECTIONS) -> float:
    """Requests per second answered 200 over ``seconds``."""
    return asyncio.run(_load(url, path, headers, seconds, connections))


# -- the benchmark --------------------------------------------------------------------------------

def measure(backend: str, seconds: float = 5.0, rounds: int = 3, documents: int = 1000) -> dict[str, Any]:
    with harness.Workspace(backend) as ws:
        site = ws.site("api.local", served=True)
        keys = harness.subscriber_keys(site)
        session = site.session()
        with site.db.transaction():
            names = [session.insert(harness.todo(i))["name"] for i in range(documents)]
        site_url = ws.serve(site, worker=False)
        hello_port = harness.free_port()
        ws.spawn([sys.executable, "-m", "benchmarks.http", "--hello", str(hello_port)], "hello.log")
        hello_url = f"http://127.0.0.1:{hello_port}"
        harness.wait_ready(hello_url + "/", ws.folder / "hello.log")
        auth = {"Authorization": f"token {keys['api_key']}:{keys['api_secret']}", "Accept": "application/json"}
        fields = quote(json.dumps(["*"]))
        targets = {
            "GET one document": (site_url, f"/api/resource/ToDo/{names[len(names) // 2]}", auth),
            "GET list of 20": (site_url, f"/api/resource/ToDo?fields={fields}&limit_page_length=20", auth),
            "hello world": (hello_url, "/", {}),
        }
        for url, path, headers in targets.values():  # warm up: connections, caches, imports
            load(url, path, headers, min(1.0, seconds))
        rates: dict[str, list[float]] = {name: [] for name in targets}
        for _ in range(rounds):
            for name, (url, path, headers) in targets.items():
                rates[name].append(load(url, path, headers, seconds))
    hello_rate = harness.median(rates["hello world"])
    return {
        "backend": backend, "connections": CONNECTIONS, "seconds": seconds, "rounds": rounds,
        "requests_per_s": {name: harness.median(values) for name, values in rates.items()},
        "ratio_to_hello": {name: harness.median(values) / hello_rate for name, values in rates.items()
                           if name != "hello world"},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hello", type=int, metavar="PORT", help="serve the bare hello-world app on PORT")
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.hello:
        serve_hello(args.hello)
        return 0
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if "postgres" in backends and not harness.pg_reachable():
        backends.remove("postgres")
    print(json.dumps([measure(b, args.seconds, args.rounds) for b in backends], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
