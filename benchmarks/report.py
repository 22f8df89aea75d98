"""Derived measures, targets, and the JSON, Markdown and PNG outputs."""

from __future__ import annotations

import json
import math
import platform
import statistics
from pathlib import Path
from typing import Any

import psutil

from benchmarks.plan import PEERS
from benchmarks.suite import Cell, Suite
from benchmarks.workloads import Workload

MIB = 1024 * 1024
# Memory per 1,000 tasks in flight is reported for graphs at least this wide.
MIN_WIDTH_FOR_MEMORY = 100
THROUGHPUT_GOAL = 0.75
CRITICAL_PATH_GOAL = 1.03
FANOUT_GOAL = 1.3


def derive_cell(cell: Cell, workload: Workload, machine: Cell | None) -> dict[str, Any]:
    """Add medians and ratios to one cell's raw runs."""
    data = cell.to_dict()
    ideal = workload.ideal_makespans()[cell.mode]
    data["ideal_s"] = ideal
    data["runs"] = len(cell.makespans)
    if not cell.makespans or cell.status != "ok":
        return data
    median = statistics.median(cell.makespans)
    data["median_s"] = median
    data["min_s"] = min(cell.makespans)
    data["max_s"] = max(cell.makespans)
    data["ratio_to_ideal"] = median / ideal if ideal > 0 else None
    data["overhead_per_task_ms"] = (median - ideal) / workload.tasks * 1000
    data["invocations_per_s"] = workload.tasks / median
    if machine is not None and machine.makespans and machine.status == "ok":
        data["ratio_to_machine"] = median / statistics.median(machine.makespans)
    if cell.peak_rss_bytes is not None:
        data["peak_rss_mib"] = cell.peak_rss_bytes / MIB
    per_cell_memory = cell.system in ("walle", "raw-ray")
    if (
        per_cell_memory
        and cell.peak_rss_bytes is not None
        and cell.idle_rss_bytes is not None
        and workload.width >= MIN_WIDTH_FOR_MEMORY
    ):
        grown = max(0, cell.peak_rss_bytes - cell.idle_rss_bytes)
        data["rss_growth_mib"] = grown / MIB
        data["rss_per_1000_in_flight_mib"] = grown / MIB / workload.width * 1000
    return data


def source_description() -> dict[str, Any]:
    """Describe the code measured: the repository's commit and walle_ray's path."""
    import subprocess

    import walle_ray

    bench_dir = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(bench_dir), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    # Changes not committed make the commit an incomplete description.
    try:
        changed = subprocess.run(
            [
                "git",
                "-C",
                str(bench_dir),
                "status",
                "--porcelain",
                "--untracked-files=no",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        changed = []
    changed_files = sorted(line[3:] for line in changed if line.strip())
    return {
        "commit": commit,
        "changed_files": changed_files,
        "walle_ray": str(Path(walle_ray.__file__).parent),
    }


def machine_description() -> dict[str, Any]:
    import aiohttp
    import ray

    return {
        "cpus": psutil.cpu_count(logical=True),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "ray": ray.__version__,
        "aiohttp": aiohttp.__version__,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return str(line.split(":", 1)[1].strip())
    except OSError:
        pass
    return platform.processor() or "unknown"


def evaluate_targets(
    cells: list[dict[str, Any]], throughput: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Compare the measured figures with the project's performance targets."""
    targets: list[dict[str, Any]] = []
    library = {
        (row["system"], row["concurrency"]): row
        for row in throughput
        if row["via"] in ("library", "asyncio")
    }
    for (system, concurrency), row in sorted(library.items()):
        raw = library.get(("raw-ray", concurrency))
        if system != "walle" or raw is None:
            continue
        value = row["executions_per_s"] / raw["executions_per_s"]
        targets.append(
            {
                "target": "throughput >= 75 % of raw Ray, every task recorded",
                "case": f"{concurrency} concurrent executions",
                "value": value,
                "goal": f">= {THROUGHPUT_GOAL}",
                "met": value >= THROUGHPUT_GOAL,
            }
        )
    by_key = {(c["workload"], c["system"], c["mode"]): c for c in cells}
    for cell in cells:
        at_100ms = cell["workload"].endswith("@100ms")
        if cell["system"] == "walle" and cell["mode"] == "full" and at_100ms:
            value = cell.get("ratio_to_ideal")
            if value is None:
                continue
            targets.append(
                {
                    "target": "full makespan within 3 % of critical path at 100 ms",
                    "case": cell["workload"],
                    "value": value,
                    "goal": f"<= {CRITICAL_PATH_GOAL}",
                    "met": value <= CRITICAL_PATH_GOAL,
                    "baselines": _baseline_ratios(by_key, cell["workload"]),
                }
            )
    for latency in ("0ms", "10ms", "100ms"):
        workload = f"fanout-1000@{latency}"
        walle = by_key.get((workload, "walle", "full"))
        raw = by_key.get((workload, "raw-ray", "full"))
        if not walle or not raw or "median_s" not in walle or "median_s" not in raw:
            continue
        value = walle["median_s"] / raw["median_s"]
        targets.append(
            {
                "target": "1 -> 1,000 -> 1 fan-out within 1.3x of raw Ray",
                "case": workload,
                "value": value,
                "goal": f"<= {FANOUT_GOAL}",
                "met": value <= FANOUT_GOAL,
            }
        )
    return targets


# The systems whose ratio to the critical path a missed makespan target is
# compared with, by their names in the tables.
BASELINE_NAMES = {
    "machine-limit": "machine",
    "ray-actors": "Ray actors",
    "raw-ray": "raw Ray",
}


def _baseline_ratios(
    by_key: dict[tuple[str, str, str], dict[str, Any]], workload: str
) -> str:
    """Describe the baselines' median over the critical path on ``workload``."""
    parts = []
    for system, label in BASELINE_NAMES.items():
        cell = by_key.get((workload, system, "full"))
        ratio = None if cell is None else cell.get("ratio_to_ideal")
        if ratio is not None:
            parts.append(f"{label} {ratio:.3f}")
    return ", ".join(parts)


def build_results(suite: Suite, started_at: float, ended_at: float) -> dict[str, Any]:
    """Assemble the results document of a finished suite."""
    workloads = {w.id: w for w in suite.plan.workloads}
    machine_cells = {c.workload: c for c in suite.cells if c.system == "machine-limit"}
    cells = [
        derive_cell(c, workloads[c.workload], machine_cells.get(c.workload))
        for c in suite.cells
        if c.workload in workloads
    ]
    return {
        "meta": {
            "quick": suite.plan.quick,
            "started_at": started_at,
            "duration_s": ended_at - started_at,
            "machine": machine_description(),
            "source": suite.source,
            "notes": suite.notes,
            "peer_workloads": suite.plan.peer_workloads,
        },
        "workloads": [
            {
                "id": w.id,
                "family": w.family,
                "size": w.size,
                "latency_ms": w.latency_ms,
                "tasks": w.tasks,
                "width": w.width,
                "ideal_s": w.ideal_makespans(),
            }
            for w in suite.plan.workloads
        ],
        "cells": cells,
        "throughput": suite.throughput,
        "serve": suite.serve,
        "peers": {name: suite.peers.get(name) for name in PEERS if name in suite.peers},
        "targets": evaluate_targets(cells, suite.throughput),
    }


def _fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}{suffix}"


def _cell_text(
    cell: dict[str, Any] | None, key: str, *, show_runs: bool = False
) -> str:
    if cell is None:
        return ""
    if cell["status"] != "ok":
        return str(cell["status"])
    text = _fmt(cell.get(key), 2, "x")
    if show_runs:
        text += f" (n={cell['runs']})"
    return text


def markdown(results: dict[str, Any]) -> str:
    """Render the results as Markdown tables."""
    cells = {(c["workload"], c["system"], c["mode"]): c for c in results["cells"]}
    peers = [p for p in PEERS if p in results["peers"]]
    for peer in peers:
        if results["peers"][peer]["status"] == "not installed":
            for workload in results["meta"]["peer_workloads"]:
                cells[(workload, peer, "full")] = {"status": "not installed"}
    lines = ["# Benchmark results", ""]
    meta = results["meta"]
    machine = meta["machine"]
    lines.append(
        f"Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), "
        f"{machine['memory_gib']} GiB, Python {machine['python']}, "
        f"Ray {machine['ray']}. Suite time: {meta['duration_s']:.0f} s"
        f"{' (--quick)' if meta['quick'] else ''}."
    )
    source = meta.get("source") or {}
    if source.get("commit"):
        code = f"Code: commit {source['commit']}"
        changed = source.get("changed_files") or []
        if changed:
            code += f", with uncommitted changes to {', '.join(changed)}"
        lines += ["", code + "."]
    lines.append("")
    lines += [f"- {note}" for note in meta["notes"]]
    lines.append("")

    lines.append("## Makespan")
    lines.append("")
    lines.append(
        "Median makespan of the machine-limit baseline, then each system as a "
        "ratio to it (xM) and Walle's modes as a ratio to their ideal (xideal)."
    )
    lines.append("")
    header = [
        "workload",
        "tasks",
        "ideal full s",
        "machine s",
        "raw Ray xM",
        "full xM",
        "full xideal",
        "batch xideal",
        "sync xideal",
        *(f"{p} xM" for p in peers),
    ]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for workload in results["workloads"]:
        wid = workload["id"]
        machine_cell = cells.get((wid, "machine-limit", "full"))
        row = [
            wid,
            str(workload["tasks"]),
            _fmt(workload["ideal_s"]["full"], 3),
            _fmt((machine_cell or {}).get("median_s"), 3),
            _cell_text(cells.get((wid, "raw-ray", "full")), "ratio_to_machine"),
            _cell_text(cells.get((wid, "walle", "full")), "ratio_to_machine"),
            _cell_text(cells.get((wid, "walle", "full")), "ratio_to_ideal"),
            _cell_text(cells.get((wid, "walle", "batch")), "ratio_to_ideal"),
            _cell_text(cells.get((wid, "walle", "sync")), "ratio_to_ideal"),
            *(
                _cell_text(
                    cells.get((wid, p, "full")), "ratio_to_machine", show_runs=True
                )
                for p in peers
            ),
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")

    lines += _overhead_table(results, cells)
    lines += _fanout_table(results, cells)
    lines += _throughput_table(results)
    lines += _targets_table(results)
    lines += _peers_section(results)
    return "\n".join(lines) + "\n"


def _overhead_table(
    results: dict[str, Any], cells: dict[tuple[str, str, str], dict[str, Any]]
) -> list[str]:
    lines = [
        "## Overhead per task",
        "",
        "(median makespan - ideal) / tasks, in milliseconds. Ray actors: the "
        "same calls on Ray actors that sleep in place of calling the gateway.",
        "",
        "| workload | tasks | machine | Ray actors | raw Ray | full | batch | sync |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workload in results["workloads"]:
        wid = workload["id"]
        row = [wid, str(workload["tasks"])]
        for system, mode in (
            ("machine-limit", "full"),
            ("ray-actors", "full"),
            ("raw-ray", "full"),
            ("walle", "full"),
            ("walle", "batch"),
            ("walle", "sync"),
        ):
            cell = cells.get((wid, system, mode))
            row.append(_fmt((cell or {}).get("overhead_per_task_ms"), 2))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


def _fanout_table(
    results: dict[str, Any], cells: dict[tuple[str, str, str], dict[str, Any]]
) -> list[str]:
    lines = [
        "## Wide fan-outs: invocations and memory",
        "",
        "Task invocations per second (tasks / median makespan), and the peak "
        "summed RSS of the driver, Ray's processes and the gateway, with its "
        "growth over the level before the workload's first run, per 1,000 tasks "
        "in flight.",
        "",
        "| workload | machine inv/s | raw Ray inv/s | full inv/s | full peak MiB "
        "| full MiB / 1,000 in flight | raw Ray MiB / 1,000 in flight |",
        "|---|---|---|---|---|---|---|",
    ]
    for workload in results["workloads"]:
        if workload["family"] != "fanout":
            continue
        wid = workload["id"]
        machine = cells.get((wid, "machine-limit", "full")) or {}
        raw = cells.get((wid, "raw-ray", "full")) or {}
        full = cells.get((wid, "walle", "full")) or {}
        row = [
            wid,
            _fmt(machine.get("invocations_per_s"), 0),
            _fmt(raw.get("invocations_per_s"), 0),
            _fmt(full.get("invocations_per_s"), 0),
            _fmt(full.get("peak_rss_mib"), 0),
            _fmt(full.get("rss_per_1000_in_flight_mib"), 1),
            _fmt(raw.get("rss_per_1000_in_flight_mib"), 1),
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


def _throughput_table(results: dict[str, Any]) -> list[str]:
    rows = results["throughput"]
    lines = ["## Executions per second", ""]
    serve = results.get("serve") or {}
    if serve.get("status") and serve["status"] != "ok":
        lines.append(f"Serve HTTP API: {serve['status']} ({serve.get('detail', '')}).")
        lines.append("")
    if not rows:
        return [*lines, "Not measured in this run.", ""]
    lines += [
        "The example workflow's shape with 10 ms calls, run many times from "
        "N concurrent clients.",
        "",
        "| system | via | concurrent | executions | exec/s | p50 ms | p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['system']} | {row['via']} | {row['concurrency']} | "
            f"{row['executions']} | {row['executions_per_s']:.1f} | "
            f"{row['p50_ms']:.1f} | {row['p99_ms']:.1f} |"
        )
    lines.append("")
    return lines


def _targets_table(results: dict[str, Any]) -> list[str]:
    lines = ["## Targets", ""]
    if not results["targets"]:
        return [*lines, "No target applies to the workloads of this run.", ""]
    lines += [
        "Baselines: the same ratio for the systems under Walle, where it applies.",
        "",
        "| target | case | measured | goal | met | baselines |",
        "|---|---|---|---|---|---|",
    ]
    for target in results["targets"]:
        lines.append(
            f"| {target['target']} | {target['case']} | {target['value']:.3f} | "
            f"{target['goal']} | {'yes' if target['met'] else 'no'} | "
            f"{target.get('baselines', '')} |"
        )
    lines.append("")
    return lines


def _peers_section(results: dict[str, Any]) -> list[str]:
    if not results["peers"]:
        return []
    lines = ["## Peers", "", "| peer | status | version | peak MiB | detail |"]
    lines.append("|---|---|---|---|---|")
    for name, info in results["peers"].items():
        peak = info.get("peak_rss_bytes")
        lines.append(
            f"| {name} | {info['status']} | {info.get('version') or ''} | "
            f"{_fmt(peak / MIB if peak else None, 0)} | {info.get('detail') or ''} |"
        )
    lines.append("")
    return lines


def write_outputs(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write results.json, results.md and the plots; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    md_path = out_dir / "results.md"
    md_path.write_text(markdown(results), encoding="utf-8")
    written = [json_path, md_path]
    from benchmarks.plots import write_plots

    plots, note = write_plots(results, out_dir)
    if note:
        results["meta"]["notes"].append(note)
        json_path.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
        md_path.write_text(markdown(results), encoding="utf-8")
    return written + plots
