"""Running a tutorial's shell blocks: the ```sh fenced blocks of a Markdown section, in order, in one bash."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
TUTORIAL_PORTS = ("8001", "8002")


def section(markdown: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same level (or the end)."""
    level = heading.split(" ")[0]
    start = markdown.index(heading + "\n")
    rest = markdown[start + len(heading) + 1:]
    following = re.search(rf"^{level} ", rest, re.M)
    return rest[: following.start()] if following else rest


def shell_blocks(markdown: str) -> list[str]:
    return [m.group(1) for m in FENCE.finditer(markdown)]


def script(blocks: list[str], ports: tuple[int, int]) -> str:
    """One bash script of the blocks, with the tutorial's ports swapped for free ones."""
    body = "\n".join(blocks)
    for fixed, free in zip(TUTORIAL_PORTS, ports):
        body = body.replace(fixed, str(free))
    return "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + body


def run(text: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``text`` in bash in ``cwd`` with this interpreter's ``docstream`` first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSTREAM_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.Popen(["bash", "-c", text], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"the tutorial did not finish in {timeout}s:\n{out}") from None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the servers it started in the background, if any remain
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")
