"""How the suite alternates the systems it compares, without Ray.

The systems here are plain functions that record when they run, so the
order of runs, the budgets and the combined throughput can be checked
exactly.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import workloads  # noqa: E402
from benchmarks.engines import ThroughputResult  # noqa: E402
from benchmarks.plan import Repeats  # noqa: E402
from benchmarks.suite import Contender, measure_alternating, rotation  # noqa: E402


def _recording(log: list[str], name: str, *, sleep_s: float = 0.0):
    def run() -> None:
        log.append(name)
        if sleep_s:
            time.sleep(sleep_s)

    return run


def test_warmups_first_then_rounds_in_rotating_order() -> None:
    log: list[str] = []
    contenders = [
        Contender(name, "full", _recording(log, name)) for name in ("a", "b", "c")
    ]
    repeats = Repeats(runs=3, warmup=1, min_runs=3, budget_s=60.0)
    cells = measure_alternating(workloads.example(), contenders, repeats)
    assert log == ["a", "b", "c", "a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert [len(cell.makespans) for cell in cells] == [3, 3, 3]
    assert all(cell.status == "ok" for cell in cells)


def test_failed_contender_stops_and_others_go_on() -> None:
    log: list[str] = []

    def broken() -> None:
        log.append("broken")
        raise RuntimeError("gateway refused")

    contenders = [
        Contender("raw-ray", "full", _recording(log, "raw")),
        Contender("walle", "full", broken),
    ]
    repeats = Repeats(runs=3, warmup=0, min_runs=1, budget_s=60.0)
    cells = measure_alternating(workloads.example(), contenders, repeats)
    assert log.count("broken") == 1
    assert log.count("raw") == 3
    raw, walle = cells
    assert raw.status == "ok"
    assert len(raw.makespans) == 3
    assert walle.status == "error"
    assert walle.error == "RuntimeError: gateway refused"
    assert walle.makespans == []


def test_slow_contender_stops_at_its_own_budget() -> None:
    log: list[str] = []
    contenders = [
        Contender("fast", "full", _recording(log, "fast")),
        Contender("slow", "full", _recording(log, "slow", sleep_s=0.05)),
    ]
    repeats = Repeats(runs=5, warmup=0, min_runs=2, budget_s=0.08)
    fast, slow = measure_alternating(workloads.example(), contenders, repeats)
    assert len(slow.makespans) == 2
    assert len(fast.makespans) == 5
    assert min(slow.makespans) >= 0.05


def test_memory_recorded_per_contender() -> None:
    contenders = [Contender("a", "full", lambda: None)]
    repeats = Repeats(runs=1, warmup=0, min_runs=1, budget_s=60.0)
    (cell,) = measure_alternating(workloads.example(), contenders, repeats)
    assert cell.idle_rss_bytes is not None and cell.idle_rss_bytes > 0
    assert cell.peak_rss_bytes is not None and cell.peak_rss_bytes > 0


def test_rotation_wraps_around() -> None:
    items = [Contender(n, "full", lambda: None) for n in ("a", "b", "c")]
    assert [c.system for c in rotation(items, 4)] == ["b", "c", "a"]
    assert rotation([], 3) == []


def test_throughput_rounds_add_up() -> None:
    first = ThroughputResult(10, 50, 2.0, [0.1] * 50)
    second = ThroughputResult(10, 50, 3.0, [0.2] * 50)
    combined = ThroughputResult.combine([first, second])
    assert combined.executions == 100
    assert combined.elapsed_s == pytest.approx(5.0)
    assert combined.executions_per_s == pytest.approx(20.0)
    assert sorted(combined.latencies_s) == [0.1] * 50 + [0.2] * 50
