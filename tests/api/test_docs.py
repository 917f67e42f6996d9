"""docs/api.md documents every method the API registers and every option of ``serve``."""

from __future__ import annotations

from pathlib import Path

import docstream.api.app  # noqa: F401 - registers the API's methods
from docstream.api import methods
from docstream.commands.serve import serve

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()


def test_every_api_method_is_documented() -> None:
    ours = [m for m in methods.registered() if m.fn.__module__.startswith("docstream.api.")]
    assert len(ours) >= 18
    missing = [m.name for m in ours if f"`{m.name}`" not in DOC]
    assert not missing, f"document these methods in docs/api.md: {missing}"


def test_every_method_argument_is_documented() -> None:
    for method in methods.registered():
        if not method.fn.__module__.startswith("docstream.api."):
            continue
        row = next(line for line in DOC.splitlines() if line.startswith(f"| `{method.name}` |"))
        for param in method.parameters:
            assert f"`{param.name}`" in row or param.name == "device", (method.name, param.name)


def test_every_serve_option_is_documented() -> None:
    for param in serve.params:
        for opt in param.opts:
            assert f"`{opt}`" in DOC, opt
