"""The benchmark keeps working: its quick mode runs end to end (no speed is asserted here)."""

from __future__ import annotations

import json

import pytest

from benchmarks.run import MODES, main


@pytest.mark.slow
def test_quick_mode_runs_every_measurement(capsys: pytest.CaptureFixture[str], backend: str) -> None:
    assert main(["--quick", "--backend", backend, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(r["backend"], r["mode"], r["n"]) for r in report["results"]] == [(backend, m, 200) for m in MODES]
    assert all(r["seconds"] > 0 and r["docs_per_s"] > 0 for r in report["results"])
    assert set(report["ratios"][backend]) == {
        "Document tx per insert / raw executemany (headline)",
        "Document tx per insert / raw tx per row (fair)",
        "Document 1 tx / raw executemany (fair)",
        "Document insert_many / raw executemany (fair, batched)",
    }


def test_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--backend", "sqlite"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and "command: python -m benchmarks --quick --backend sqlite" in out
    assert "Document, tx per insert" in out and "Document insert_many, 1 tx" in out and "(fair)" in out
