"""The benchmark harness: workload shapes, and a real ``--quick`` suite run.

The suite starts its own Ray cluster and gateway, so it runs in a
subprocess. Nothing here asserts on timing beyond sanity: a makespan at
least 90 % of its ideal, and finite, positive ratios.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import workloads  # noqa: E402
from benchmarks.cli import DEFAULT_OUT, QUICK_OUT, parse_args  # noqa: E402
from benchmarks.plan import make_plan, quick_workloads  # noqa: E402
from benchmarks.suite import RAY_CPUS, ray_init_target  # noqa: E402

SUITE_TIMEOUT_S = 420
WALLE_MODES = ("full", "batch", "sync")


def test_example_workload_ideals() -> None:
    ideal = workloads.example().ideal_makespans()
    assert ideal["sync"] == pytest.approx(0.65)
    assert ideal["batch"] == pytest.approx(0.5)
    assert ideal["full"] == pytest.approx(0.4)


def test_fanout_workload_shape() -> None:
    workload = workloads.fanout(100, 10)
    assert workload.tasks == 102
    assert workload.width == 100
    assert workload.ideal_makespans()["full"] == pytest.approx(0.03)


def test_random_workload_is_seeded() -> None:
    first = workloads.random_layered(300, 0)
    second = workloads.random_layered(300, 0)
    assert first.depends == second.depends
    assert first.tasks == 300
    assert len(first.dag.levels()) == round(math.sqrt(300))


def test_workflow_names_are_valid() -> None:
    for workload in quick_workloads():
        workflow = workload.to_workflow()
        assert len(workflow.tasks) == workload.tasks


def test_plan_rejects_unknown_section() -> None:
    with pytest.raises(ValueError, match="invalid --only name"):
        make_plan(quick=True, only={"fanout", "nonsense"}, runs=None)


def test_quick_run_writes_apart() -> None:
    assert parse_args(["--quick"]).out == QUICK_OUT
    assert parse_args([]).out == DEFAULT_OUT
    assert parse_args(["--quick", "--out", "x"]).out == Path("x")


def test_plan_note_counts_runs() -> None:
    quick = " ".join(make_plan(quick=True, only=None, runs=None).notes)
    assert "up to 1 time after 0 warm-up runs; after 1 run no" in quick
    full = " ".join(make_plan(quick=False, only=None, runs=None).notes)
    assert "up to 5 times after 1 warm-up run; after 3 runs no" in full


def test_ray_init_joins_ray_address() -> None:
    target = ray_init_target({"RAY_ADDRESS": "10.0.0.5:6379"})
    assert target == {"address": "10.0.0.5:6379"}


def test_ray_init_local_without_address() -> None:
    for environ in ({}, {"RAY_ADDRESS": ""}):
        target = ray_init_target(environ)
        assert target == {"address": "local", "num_cpus": RAY_CPUS}


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT_S,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert (out / "results.md").exists()
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    results["_out"] = str(out)
    return results


def _cells(results: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(c["workload"], c["system"], c["mode"]): c for c in results["cells"]}


def test_quick_every_workload_measured(quick_results: dict[str, Any]) -> None:
    expected = {w.id for w in quick_workloads()}
    assert {w["id"] for w in quick_results["workloads"]} == expected
    cells = _cells(quick_results)
    for workload in expected:
        assert cells[(workload, "machine-limit", "full")]["status"] == "ok"
        assert cells[(workload, "raw-ray", "full")]["status"] == "ok"
        assert cells[(workload, "ray-actors", "full")]["status"] == "ok"
        for mode in WALLE_MODES:
            cell = cells[(workload, "walle", mode)]
            assert cell["status"] == "ok", cell["error"]
            assert cell["runs"] == 1


def test_quick_ratios_finite_positive(quick_results: dict[str, Any]) -> None:
    for cell in quick_results["cells"]:
        for key in ("ratio_to_machine", "invocations_per_s"):
            value = cell[key]
            assert math.isfinite(value), (cell["workload"], key)
            assert value > 0, (cell["workload"], key)
        ratio = cell["ratio_to_ideal"]
        if cell["ideal_s"] == 0:
            assert ratio is None
        else:
            assert math.isfinite(ratio), cell["workload"]
            assert ratio > 0, cell["workload"]


def test_quick_makespan_not_below_ideal(quick_results: dict[str, Any]) -> None:
    for cell in quick_results["cells"]:
        assert cell["median_s"] >= cell["ideal_s"] * 0.9, cell


def test_quick_throughput_rows(quick_results: dict[str, Any]) -> None:
    systems = {(row["system"], row["via"]) for row in quick_results["throughput"]}
    assert systems == {
        ("machine-limit", "asyncio"),
        ("walle", "library"),
        ("raw-ray", "library"),
    }
    for row in quick_results["throughput"]:
        assert row["executions_per_s"] > 0
        assert row["p99_ms"] >= row["p50_ms"] > 0


def test_quick_memory_recorded(quick_results: dict[str, Any]) -> None:
    for cell in quick_results["cells"]:
        assert cell["peak_rss_mib"] > 0, cell["workload"]


def test_quick_outputs_written(quick_results: dict[str, Any]) -> None:
    out = Path(quick_results["_out"])
    markdown = (out / "results.md").read_text()
    assert "## Makespan" in markdown
    source = quick_results["meta"]["source"]
    assert isinstance(source["changed_files"], list)
    assert f"Code: commit {source['commit']}" in markdown
    assert "## Targets" in markdown
    plots = sorted(p.name for p in out.glob("*.png"))
    notes = " ".join(quick_results["meta"]["notes"])
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "Plots skipped" in notes
    else:
        assert "makespan-vs-machine.png" in plots
