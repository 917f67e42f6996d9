"""Nothing a user can call goes undocumented: every CLI command and option, every setting, every API method.

The lists come from the code (click's command tree, ``docstream.settings.SETTINGS``, the whitelist
registry of ``docstream.api.methods``), so a new command, setting or method fails here until the
docs say what it does.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from docstream.cli import main
from docstream.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
HEADING = re.compile(r"^(#{2,3}) (docstream(?: [a-z-]+)*)\s*$", re.M)


def commands(group: click.Group = main, path: tuple[str, ...] = ("docstream",)) -> dict[str, click.Command]:
    """Every command, by its full path ("docstream sync pull"); groups by their own path too."""
    found: dict[str, click.Command] = {" ".join(path): group}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= commands(command, (*path, name))
        else:
            found[" ".join((*path, name))] = command
    return found


def documented_sections() -> dict[str, str]:
    """The ``## docstream …`` sections of docs/cli.md, by heading, with their text."""
    text = CLI_DOC.read_text()
    marks = list(HEADING.finditer(text))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    sections = {m.group(2): text[m.end():end] for m, end in zip(marks, ends)}
    settings_at = text.find("\n## Settings")
    return {k: v.split("\n## Settings")[0] if settings_at >= 0 else v for k, v in sections.items()}


def _leaf_commands() -> dict[str, click.Command]:
    every = commands()
    return {path: cmd for path, cmd in every.items() if not isinstance(cmd, click.Group) or path == "docstream"}


@pytest.mark.parametrize("path", sorted(_leaf_commands()))
def test_every_command_has_a_section_naming_all_its_options(path: str) -> None:
    sections = documented_sections()
    assert path in sections, f"docs/cli.md has no '## {path}' (or '###') section"
    text = sections[path]
    for param in _leaf_commands()[path].params:
        if isinstance(param, click.Option):
            names = [o for o in param.opts if o.startswith("--")]
            assert any(f"`{n}" in text for n in names), f"docs/cli.md, {path}: option {names[0]} is not described"
        else:
            metavar = param.human_readable_name.upper()
            assert re.search(rf"\b{re.escape(metavar)}", text), f"docs/cli.md, {path}: argument {metavar} is missing"


@pytest.mark.parametrize("first", ["docstream.commands.serve", "docstream.commands.sync", "docstream.commands.demo"])
def test_the_command_tree_is_whole_whichever_module_is_imported_first(first: str) -> None:
    """This file's lists come from the tree: it must not depend on import order (it once lost serve)."""
    code = f"import {first}; from docstream.cli import main; print(' '.join(sorted(main.commands)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == sorted(n.split()[1] for n in commands() if n.count(" ") == 1)


def test_every_documented_command_exists() -> None:
    stale = set(documented_sections()) - set(commands())
    assert not stale, f"docs/cli.md documents commands that don't exist: {sorted(stale)}"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_every_setting_is_in_the_settings_table_with_its_default(setting) -> None:
    text = CLI_DOC.read_text().split("\n## Settings", 1)
    assert len(text) == 2, "docs/cli.md has no '## Settings' section"
    rows = [line for line in text[1].splitlines() if line.startswith(f"| `{setting.name}` |")]
    assert rows, f"docs/cli.md, Settings: no row for {setting.name}"
    default = f'`"{setting.default}"`' if isinstance(setting.default, str) else f"`{setting.default}`"
    assert default in rows[0], f"docs/cli.md, Settings: {setting.name} should show its default {default}"


def _registered_methods() -> list[str]:
    import docstream.api.app  # noqa: F401 - registers the HTTP API's own methods
    import docstream.streaming.methods  # noqa: F401 - registers the streaming methods
    from docstream.api.methods import registered

    # methods that tests register for themselves (their functions live in tests/) are not the product's
    return [method.name for method in registered() if method.fn.__module__.startswith("docstream.")]


def _all_docs() -> str:
    pages = sorted(DOCS.rglob("*.md"))
    return "\n".join(p.read_text() for p in [ROOT / "README.md", *pages])


@pytest.mark.parametrize("method", _registered_methods())
def test_every_api_method_is_documented(method: str) -> None:
    assert f"`{method}`" in _all_docs(), f"the API method {method} is not described anywhere in docs/"


def test_the_method_registry_is_not_empty() -> None:
    names = _registered_methods()
    assert "docstream.streaming.pull" in names and "frappe.client.get_list" in names


# pages other engineers are writing; links to them are fine until they land (then they are checked like any)
BEING_WRITTEN = {DOCS / "documents.md", DOCS / "testing.md", DOCS / "performance.md"}


def test_links_between_pages_point_at_files_that_exist() -> None:
    broken = []
    for page in [ROOT / "README.md", *DOCS.rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            path = (page.parent / target).resolve()
            if not path.exists() and path not in BEING_WRITTEN:
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)
