"""The demo from start to end: build, stream with live progress, report, check, clean up.

    setup       create hq + N stores, serve each with ``docstream serve``, subscribe and approve
    workload    master data at hq; once the stores have it, invoices at every store while hq edits masters
    monitor     progress bars: writes done, and each consumer's cursor against its producer's head
    report      per-site figures from the Event Update / Sync Logs
    convergence every streamed document compared across sites; the exit status says whether they match
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from docstream.demo import convergence, report, workload
from docstream.demo.monitor import Link, Monitor, Position
from docstream.demo.setup import Cluster, create_sites, serve_all, subscribe_all

CATCH_UP_TIMEOUT = 60.0
POLL_SECONDS = 0.4
MASTER_CHANGE_PAUSE = 0.2


@dataclass
class Job:
    """A piece of the workload on its own thread, with the counter its progress bar follows."""

    label: str
    counter: workload.Counter
    run: Callable[[], None]


def run(stores: int = 2, keep_running: bool = False, console: Console | None = None) -> int:
    """Run the demo; 0 when every site converged, 1 when not (130 when interrupted)."""
    console = console or Console()
    root = Path(tempfile.mkdtemp(prefix="docstream-demo-"))
    started = time.monotonic()
    step = _stepper(console, started)
    cluster: Cluster | None = None
    verdict: convergence.Verdict | None = None
    try:
        cluster = create_sites(root, stores, step)
        serve_all(cluster, step)
        subscribe_all(cluster, step)
        _stream(cluster, console, step)
        console.print(report.summary_table(report.collect(cluster)))
        verdict = convergence.check(cluster)
        report.show_verdict(console, verdict)
        console.print(f"demo finished in {time.monotonic() - started:.1f} s")
        if keep_running:
            _serve_until_interrupted(cluster, console)
    except KeyboardInterrupt:
        console.print("stopping the sites")
        if verdict is None:
            return 130
    finally:
        if cluster is not None:
            cluster.stop()
        if verdict is not None and verdict.converged:
            shutil.rmtree(root, ignore_errors=True)
        else:
            console.print(f"the sites and their serve logs are kept in {root}")
    return 0 if verdict is not None and verdict.converged else 1


def _stepper(console: Console, started: float) -> Callable[[str], None]:
    def step(message: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim]  {message}")

    return step


def _stream(cluster: Cluster, console: Console, step: Callable[[str], None]) -> None:
    data = workload.master_data()
    hq = cluster.hq.admin()
    stop = threading.Event()
    monitor = Monitor(cluster)
    try:
        with Progress(TextColumn("{task.description:<30}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            streams = {link: progress.add_task(f"sync {link.label}", total=None) for link in monitor.links}
            masters = workload.Counter(len(data.documents))
            _drive(progress, monitor, streams, stop, [
                Job("hq: master data", masters, lambda: workload.create_masters(hq, data, masters, stop))])
            step("every store has the master data: the stores start selling, hq edits its masters")
            _drive(progress, monitor, streams, stop, _selling(cluster, data, stop))
    finally:
        stop.set()
        monitor.close()


def _selling(cluster: Cluster, data: workload.MasterData, stop: threading.Event) -> list[Job]:
    """Invoices at every store, while hq changes prices and territories, adds items, drops suppliers."""
    hq = cluster.hq.admin()
    changes = workload.master_changes(data)
    edits = workload.Counter(len(changes))
    jobs = [Job("hq: master data edits", edits,
                lambda: workload.run_master_changes(hq, changes, edits, stop, MASTER_CHANGE_PAUSE))]
    for index, store in enumerate(cluster.stores, start=1):
        plan = workload.invoice_plan(index, data)
        counter = workload.Counter(plan.operations)
        jobs.append(Job(f"{store.name}: invoices", counter,
                        lambda s=store, p=plan, c=counter: workload.run_invoices(s.admin(), p, c, stop)))
    return jobs


def _drive(progress: Progress, monitor: Monitor, streams: dict[Link, TaskID], stop: threading.Event,
           jobs: list[Job]) -> None:
    """Run ``jobs`` on threads, showing their progress and every stream's, until all of it is applied."""
    bars = {job.label: progress.add_task(job.label, total=job.counter.total) for job in jobs}
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="demo-workload") as pool:
        futures = [pool.submit(job.run) for job in jobs]
        try:
            _watch(progress, monitor, jobs, bars, streams, futures)
        except BaseException:
            stop.set()  # Ctrl-C: the jobs end after their current request
            raise
        if any(f.done() and f.exception() for f in futures):
            stop.set()
    for future in futures:
        future.result()  # an error in the workload ends the demo with its message


def _watch(progress: Progress, monitor: Monitor, jobs: list[Job], bars: dict[str, TaskID],
           streams: dict[Link, TaskID], futures: list[Future[None]]) -> None:
    finished_at: float | None = None
    while True:
        written = all(f.done() for f in futures)  # before reading the heads, so they include every write
        for job in jobs:
            progress.update(bars[job.label], completed=job.counter.done)
        positions = monitor.positions()
        _show_streams(progress, streams, positions)
        if any(f.done() and f.exception() for f in futures):
            return
        if written:
            finished_at = finished_at or time.monotonic()
            if all(p.caught_up for p in positions.values()):
                return
            if time.monotonic() - finished_at > CATCH_UP_TIMEOUT:
                _warn_behind(progress, positions)
                return
        time.sleep(POLL_SECONDS)


def _warn_behind(progress: Progress, positions: dict[Link, Position]) -> None:
    for link, p in positions.items():
        if not p.caught_up:
            progress.console.print(f"[yellow]{link.label} is still {p.head - p.cursor} events behind after "
                                   f"{CATCH_UP_TIMEOUT:g} s[/yellow] (last error: {p.last_error or 'none'})")


def _show_streams(progress: Progress, streams: dict[Link, TaskID], positions: dict[Link, Position]) -> None:
    for link, task in streams.items():
        position = positions[link]
        note = f" [red]{position.failed} failed[/red]" if position.failed else ""
        progress.update(task, completed=min(position.cursor, position.head), total=max(position.head, 1),
                        description=f"sync {link.label}{note}")


def _serve_until_interrupted(cluster: Cluster, console: Console) -> None:
    console.print(report.logins_table(cluster))
    console.print("The sites keep running and streaming; press Ctrl-C to stop them.")
    while True:
        time.sleep(3600)
