"""The streaming benchmarks keep working: their quick mode runs every figure end to end on each
backend (no speed is asserted here: figures from a smoke run on a shared machine mean nothing)."""

from __future__ import annotations

import json

import pytest

from benchmarks import harness
from benchmarks.streaming import FIGURES, main


@pytest.mark.slow
def test_quick_mode_measures_every_figure(capsys: pytest.CaptureFixture[str], backend: str) -> None:
    assert main(["--quick", "--backend", backend, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    results = report["results"]
    assert report["machine"] and report["command"].startswith("python -m benchmarks.streaming --quick")
    assert set(results) == set(FIGURES) and all(set(r) == {backend} for r in results.values())
    figures = {name: r[backend] for name, r in results.items()}
    assert figures["write overhead"]["ratio"] > 0 and figures["write overhead"]["raw"]["executemany_rows_per_s"] > 0
    assert figures["apply efficiency"]["ratio"] > 0 and figures["apply efficiency"]["apply_events_per_s"] > 0
    assert figures["dependency batching"]["by_method"]["docstream.streaming.get_documents"] >= 1
    assert figures["latency"]["writes"] > 0 and 0 < figures["latency"]["p50_ms"] <= figures["latency"]["p99_ms"]
    assert figures["catch-up at scale"]["events"] == sum(figures["catch-up at scale"]["mix"].values())
    assert figures["catch-up at scale"]["rss_peak_mb"] >= figures["catch-up at scale"]["rss_baseline_mb"] > 0
    assert figures["deep cursor"]["ratio"] > 0 and figures["deep cursor"]["bare_ratio"] > 0
    assert set(figures["HTTP API"]["ratio_to_hello"]) == {"GET one document", "GET list of 20"}


def test_text_report_names_the_machine_and_each_figure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quick", "--backend", "sqlite", "--only", "dependency batching", "--only", "deep cursor"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: ") and "command: python -m benchmarks.streaming --quick" in out
    assert "dependency batching" in out and "deep cursor" in out and "load average after" in out


def test_percentiles_and_medians() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert harness.percentile(samples, 50) == 50 and harness.percentile(samples, 99) == 99
    assert harness.percentile([3.0], 99) == 3.0 and harness.median([1.0, 5.0, 2.0]) == 2.0
