"""Real sites for tests: created through the CLI, served by real ``docstream serve`` processes."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from docstream.storage.postgres import server_reachable

PG_BASE = os.environ.get("DOCSTREAM_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_available() -> bool:
    return server_reachable(PG_BASE)


def run_cli(sites_dir: Path, *args: str, check: bool = True, site: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "docstream", "--sites-dir", str(sites_dir)]
    if site:
        cmd += ["--site", site]
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"docstream {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


@dataclass
class SiteServer:
    """A site served by a real ``docstream serve`` process on a loopback port."""

    name: str
    sites_dir: Path
    port: int
    admin_password: str = "admin"
    proc: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)
    log_path: Path | None = None
    clients: list[Api] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(self.sites_dir, *args, check=check, site=self.name)

    def start(self, *extra: str) -> SiteServer:
        self.log_path = self.sites_dir / f"{self.name}.serve.log"
        cmd = [sys.executable, "-m", "docstream", "--sites-dir", str(self.sites_dir), "--site", self.name,
               "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.extra_args, *extra]
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"serve exited early: {self.log()}")
            try:
                if httpx.get(self.url + "/api/method/ping", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve did not answer in {timeout}s: {self.log()}")

    def close_clients(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()

    def shutdown(self) -> None:
        """End of the test: close the clients and stop the process."""
        self.close_clients()
        self.stop()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path and self.log_path.exists() else ""

    def client(self, api_key: str | None = None, api_secret: str | None = None) -> Api:
        api = Api(self.url, api_key, api_secret)
        self.clients.append(api)
        return api

    def admin(self) -> Api:
        api = self.client()
        api.login("Administrator", self.admin_password)
        return api

    def keys(self, user: str) -> dict[str, str]:
        return json.loads(self.cli("user", "generate-keys", user).stdout)

    def add_user(self, email: str, roles: tuple[str, ...] | list[str] = (), password: str | None = None) -> Api:
        """Create a user through the CLI, give it API keys; an Api client authenticated as it."""
        args = ["user", "add", email, "--roles", ",".join(roles)]
        if password:
            args += ["--password", password]
        self.cli(*args)
        keys = self.keys(email)
        return self.client(keys["api_key"], keys["api_secret"])


class Api:
    """A small Frappe-REST client over httpx, for tests."""

    def __init__(self, url: str, api_key: str | None = None, api_secret: str | None = None, basic: bool = False) -> None:
        headers = {}
        if api_key and basic:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{api_key}:{api_secret}".encode()).decode()
        elif api_key:
            headers["Authorization"] = f"token {api_key}:{api_secret}"
        self.http = httpx.Client(base_url=url, headers=headers, timeout=60)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def login(self, usr: str, pwd: str) -> None:
        r = self.http.post("/api/method/login", json={"usr": usr, "pwd": pwd})
        assert r.status_code == 200, r.text

    def get(self, doctype: str, name: str) -> dict[str, Any]:
        r = self.http.get(f"/api/resource/{_q(doctype)}/{_q(name)}")
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def get_list(self, doctype: str, **params: Any) -> list[dict[str, Any]]:
        query = {k: json.dumps(v) if not isinstance(v, (str, int)) else v for k, v in params.items()}
        query.setdefault("limit_page_length", 0)
        r = self.http.get(f"/api/resource/{_q(doctype)}", params=query)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def insert(self, doc: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(f"/api/resource/{_q(doc['doctype'])}", json=doc)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def update(self, doctype: str, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        r = self.http.put(f"/api/resource/{_q(doctype)}/{_q(name)}", json=changes)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def delete(self, doctype: str, name: str) -> None:
        r = self.http.delete(f"/api/resource/{_q(doctype)}/{_q(name)}")
        assert r.status_code in (200, 202), r.text

    def call(self, method: str, **args: Any) -> Any:
        r = self.http.post(f"/api/method/{method}", json=args)
        assert r.status_code == 200, r.text
        return r.json().get("message")


def _q(part: str) -> str:
    from urllib.parse import quote

    return quote(str(part), safe="")
