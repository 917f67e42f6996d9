"""The README's tutorial and its continuation in docs/tutorial.md, run command for command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.tutorial import ROOT, TUTORIAL_PORTS, run, script, section, shell_blocks
from tests.support.servers import free_port

README_TUTORIAL = "## Ten-minute tutorial: two sites by hand"


def _readme_blocks() -> list[str]:
    return shell_blocks(section((ROOT / "README.md").read_text(), README_TUTORIAL))


def _part_two_blocks() -> list[str]:
    return shell_blocks((ROOT / "docs" / "tutorial.md").read_text())


def test_the_readme_starts_with_the_three_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[2:5] == [
        "    pip install -e '.[dev]'      # one command, on a fresh Python 3.11 machine",
        "    docstream demo               # the main job, on SQLite, nothing else to start",
        "    pytest                       # the test suite (PostgreSQL tests run when one is reachable)",
    ]


def test_the_tutorials_use_only_the_ports_the_test_replaces() -> None:
    text = "\n".join(_readme_blocks() + _part_two_blocks())
    assert all(port in text for port in TUTORIAL_PORTS)
    assert "127.0.0.1:" not in text.replace("127.0.0.1:8001", "").replace("127.0.0.1:8002", "").replace(
        "127.0.0.1%3A8001", "").replace("127.0.0.1%3A8002", "")


@pytest.mark.slow
def test_the_readme_tutorial_and_part_two_run_as_written(tmp_path: Path) -> None:
    readme, part_two = _readme_blocks(), _part_two_blocks()
    assert len(readme) >= 8 and len(part_two) >= 8
    ports = (free_port(), free_port())
    # part one alone first marks its end, so a failure says which part broke
    proc = run(script(readme + ["echo END-OF-PART-ONE"] + part_two, ports), tmp_path)
    out = proc.stdout
    assert "END-OF-PART-ONE" in out, f"the README tutorial failed:\n{out[-5000:]}"
    assert proc.returncode == 0, f"docs/tutorial.md failed:\n{out[-5000:]}"
    one, two = out.split("END-OF-PART-ONE")
    assert '"customer_name":"Tutorial Traders"' in one and '"status":"Synced"' in one
    assert '"remote_docname":"SINV-' in two and "synced 1, still failed 0" in two
    assert "Southern Stores at the store: HTTP 404" in two and "TEAPOT at the store: HTTP 404" in two
    assert "the Event Consumer at the head office: HTTP 404" in two
