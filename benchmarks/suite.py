"""Run a plan: baselines, Walle's modes, throughput, the Serve API and peers.

The gateway runs in its own process for the whole suite. The machine-limit
baseline and the peers run as runner scripts in subprocesses, each with the
Python of its own environment; Walle and raw Ray run in this process on one
shared ``InvokerPool``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import engines
from benchmarks.gateway_process import GatewayProcess
from benchmarks.memory import LabelledPeakMemory, PeakMemory
from benchmarks.plan import Plan, Repeats, throughput_workload
from benchmarks.workloads import Workload

logger = logging.getLogger(__name__)

BENCH_DIR = Path(__file__).resolve().parent
RUNNERS_DIR = BENCH_DIR / "runners"
PEERS_DIR = BENCH_DIR / ".peers"
PEER_SCRIPTS = {
    "dask": "dask_runner.py",
    "prefect": "prefect_runner.py",
    "ray-workflows": "ray_workflows_runner.py",
}
POOL_SIZE = 2
RAY_CPUS = 2
# Largest workload the Ray actor floor runs on, the 1 -> 1,000 -> 1 fan-out:
# it needs no more to show the cost per call, and the 10,000-task fan-out
# would add minutes.
MAX_RAY_ACTORS_TASKS = 1_002
# Library throughput splits each level's executions into this many rounds
# per system, alternating the systems.
THROUGHPUT_ROUNDS = 2
# Seconds a runner subprocess may take beyond its workloads' budgets, for
# starting its engine and shutting it down.
RUNNER_SLACK_S = 180.0


def ray_init_target(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the ``ray.init`` arguments that choose which cluster to use.

    With ``RAY_ADDRESS`` set, the benchmarks join that cluster and use its
    CPUs, since Ray rejects ``num_cpus`` when joining. Without it they start
    a private instance of ``RAY_CPUS`` CPUs: ``address="local"`` never joins a
    cluster that ``ray start`` runs elsewhere on the machine.
    """
    address = (os.environ if environ is None else environ).get("RAY_ADDRESS")
    if address:
        return {"address": address}
    return {"address": "local", "num_cpus": RAY_CPUS}


def driver_node_pool(name_prefix: str) -> Any:
    """Start ``POOL_SIZE`` invoker actors pinned to the driver's node.

    The suite's gateway listens on a loopback address in a subprocess of the
    driver, so an invoker on another node of a joined cluster could not reach
    it. Ray otherwise places actors that need no CPU on any node.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from walle_ray.invoker.actor import InvokerPool

    node_id = ray.get_runtime_context().get_node_id()

    class DriverNodePool(InvokerPool):
        def scheduling_strategy(self, index: int) -> Any:
            return NodeAffinitySchedulingStrategy(node_id, soft=False)

    return DriverNodePool(POOL_SIZE, name_prefix=name_prefix)


@dataclass
class Cell:
    """The measured runs of one system on one workload."""

    workload: str
    system: str
    mode: str = "full"
    status: str = "ok"
    makespans: list[float] = field(default_factory=list)
    error: str | None = None
    idle_rss_bytes: int | None = None
    peak_rss_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "system": self.system,
            "mode": self.mode,
            "status": self.status,
            "makespans_s": self.makespans,
            "error": self.error,
            "idle_rss_bytes": self.idle_rss_bytes,
            "peak_rss_bytes": self.peak_rss_bytes,
        }


@dataclass
class Contender:
    """One system measured on a workload: how to run it once, and its runs."""

    system: str
    mode: str
    run_once: engines.RunOnce
    makespans: list[float] = field(default_factory=list)
    spent_s: float = 0.0
    error: str = ""

    @property
    def label(self) -> str:
        return f"{self.system}/{self.mode}"

    def wants_run(self, repeats: Repeats) -> bool:
        """Return whether another timed run fits this contender's budget."""
        if self.error or len(self.makespans) >= repeats.runs:
            return False
        if len(self.makespans) < repeats.min_runs:
            return True
        projected = self.spent_s + statistics.fmean(self.makespans)
        return projected <= repeats.budget_s


def rotation(items: list[Contender], round_index: int) -> list[Contender]:
    """Return ``items`` starting at ``round_index``, wrapped around.

    Each round starts with a different system, so none is always the one
    that runs after a given other.
    """
    if not items:
        return []
    shift = round_index % len(items)
    return items[shift:] + items[:shift]


def measure_alternating(
    workload: Workload, contenders: list[Contender], repeats: Repeats
) -> list[Cell]:
    """Time ``contenders`` on ``workload`` in alternation; return their cells.

    All warm-up runs come first. Then each round times one run of every
    contender whose budget allows it, so a change in the machine's load
    between rounds moves every system's times alike instead of one
    system's. Each contender keeps its own budget: after ``min_runs`` runs,
    it starts no run that would take its time past ``budget_s``.
    """
    with LabelledPeakMemory() as memory:
        for contender in contenders:
            for _ in range(repeats.warmup):
                _run_once(contender, memory, timed=False)
        round_index = 0
        while True:
            due = [c for c in contenders if c.wants_run(repeats)]
            if not due:
                break
            for contender in rotation(due, round_index):
                _run_once(contender, memory, timed=True)
            round_index += 1
    cells = []
    for contender in contenders:
        cell = Cell(
            workload=workload.id,
            system=contender.system,
            mode=contender.mode,
            makespans=contender.makespans,
            idle_rss_bytes=memory.idle_bytes,
            peak_rss_bytes=memory.peaks.get(contender.label, memory.idle_bytes),
        )
        if contender.error:
            cell.status = "error"
            cell.error = contender.error
        makespans = contender.makespans
        logger.info(
            "%s %s %s: median %.4f s over %d runs%s",
            workload.id,
            contender.system,
            contender.mode,
            statistics.median(makespans) if makespans else float("nan"),
            len(makespans),
            f" ({contender.error})" if contender.error else "",
        )
        cells.append(cell)
    return cells


def _run_once(contender: Contender, memory: LabelledPeakMemory, *, timed: bool) -> None:
    """Run ``contender`` once; record its makespan, or the error that ends it."""
    begin = time.perf_counter()
    try:
        with memory.measure(contender.label):
            run_begin = time.perf_counter()
            contender.run_once()
            makespan = time.perf_counter() - run_begin
    except Exception as exc:
        logger.exception("a measured run of %s failed", contender.label)
        contender.error = f"{type(exc).__name__}: {exc}"[:500]
        return
    finally:
        contender.spent_s += time.perf_counter() - begin
    if timed:
        contender.makespans.append(makespan)


def peer_python(name: str) -> Path | None:
    """Return the interpreter of an installed peer's environment, or None."""
    python = PEERS_DIR / name / "bin" / "python"
    return python if python.exists() else None


def run_runner(
    python: Path | str,
    script: str,
    *,
    workloads_file: Path,
    gateway: str,
    repeats: Repeats,
    budget_s: float,
    workload_count: int,
    log_file: Path,
    env: dict[str, str] | None = None,
) -> tuple[dict[str, Any] | None, str, PeakMemory]:
    """Run one runner script; return its output, an error, and its memory.

    The memory covers the runner's whole process tree and the gateway, over
    the runner's whole run.
    """
    out = log_file.with_suffix(".json")
    command = [
        str(python),
        str(RUNNERS_DIR / script),
        "--workloads",
        str(workloads_file),
        "--gateway",
        gateway,
        "--out",
        str(out),
        "--runs",
        str(repeats.runs),
        "--min-runs",
        str(repeats.min_runs),
        "--warmup",
        str(repeats.warmup),
        "--budget",
        str(budget_s),
    ]
    timeout = budget_s * max(1, workload_count) * 1.5 + RUNNER_SLACK_S
    error = ""
    with PeakMemory(include_self=False) as memory, log_file.open("w") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = None
            error = f"timed out after {timeout:.0f} s"
    if code not in (0, None):
        error = f"exited with status {code}; see {log_file.name}"
    if not out.exists():
        return None, error or f"wrote no results; see {log_file.name}", memory
    output: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return output, error, memory


def runner_cells(
    system: str,
    output: dict[str, Any] | None,
    error: str,
    workloads: list[Workload],
    memory: PeakMemory | None,
) -> list[Cell]:
    """Turn a runner's output into cells, one per workload it was given."""
    cells = []
    results = (output or {}).get("results", {})
    for workload in workloads:
        entry = results.get(workload.id)
        cell = Cell(workload=workload.id, system=system)
        if entry is None:
            cell.status = "timeout" if "timed out" in error else "error"
            cell.error = error or "no result"
        else:
            cell.status = entry["status"]
            cell.makespans = entry.get("makespans", [])
            cell.error = entry.get("error")
        if memory is not None:
            cell.idle_rss_bytes = memory.idle_bytes
            cell.peak_rss_bytes = memory.peak_bytes
        cells.append(cell)
    return cells


class Suite:
    """One run of the benchmark suite, writing into ``out_dir``."""

    def __init__(self, plan: Plan, out_dir: Path) -> None:
        self.plan = plan
        self.out_dir = out_dir
        self.cells: list[Cell] = []
        self.throughput: list[dict[str, Any]] = []
        self.serve: dict[str, Any] = {}
        self.peers: dict[str, dict[str, Any]] = {}
        self.notes = list(plan.notes)
        self.source: dict[str, Any] = {}
        # Runner inputs, outputs and logs; git-ignored, kept for inspection.
        self.work_dir = out_dir / "logs"
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir.mkdir(parents=True)

    def export_workloads(self, workloads: list[Workload], name: str) -> Path:
        path = self.work_dir / f"{name}.json"
        data: dict[str, Any] = {"workloads": [w.to_json() for w in workloads]}
        if name == "machine-limit" and self.plan.library_throughput:
            data["throughput"] = {
                "workload_json": throughput_workload().to_json(),
                "levels": [
                    {"concurrency": t.concurrency, "executions": t.executions}
                    for t in self.plan.throughput_levels
                ],
            }
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    def run(self) -> None:
        from benchmarks.report import source_description

        # Read before the run: the repository may get new commits meanwhile.
        self.source = source_description()
        with GatewayProcess() as gateway:
            logger.info("gateway at %s", gateway.url)
            self.run_machine_limit(gateway.url)
            self.run_ray(gateway.url)
            self.run_peers(gateway.url)

    def run_machine_limit(self, gateway: str) -> None:
        workloads = self.plan.workloads
        if not workloads and not self.plan.library_throughput:
            return
        budget = self.plan.repeats.budget_s
        output, error, memory = run_runner(
            sys.executable,
            "machine_limit.py",
            workloads_file=self.export_workloads(workloads, "machine-limit"),
            gateway=gateway,
            repeats=self.plan.repeats,
            budget_s=budget,
            workload_count=len(workloads) + len(self.plan.throughput_levels),
            log_file=self.work_dir / "machine-limit.log",
        )
        self.cells += runner_cells("machine-limit", output, error, workloads, memory)
        for level in (output or {}).get("throughput", []):
            latencies = level["latencies_s"]
            result = engines.ThroughputResult(
                level["concurrency"], level["executions"], level["elapsed_s"], latencies
            )
            self.throughput.append(
                {"system": "machine-limit", "via": "asyncio", **result.to_dict()}
            )

    def run_ray(self, gateway: str) -> None:
        plan = self.plan
        if not (plan.workloads or plan.library_throughput or plan.serve):
            return
        import ray

        ray.init(
            **ray_init_target(),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=False,
        )
        try:
            pool = driver_node_pool("walle-bench-invoker")
            pool.wait_ready()
            self.warm_up(gateway, pool)
            actors: list[Any] = []
            if any(w.tasks <= MAX_RAY_ACTORS_TASKS for w in plan.workloads):
                actors = engines.sleep_actors(POOL_SIZE, pool.scheduling_strategy(0))
            try:
                for workload in plan.workloads:
                    self.run_workload(workload, gateway, pool, actors)
            finally:
                for actor in actors:
                    ray.kill(actor)
            if plan.library_throughput:
                self.run_library_throughput(gateway, pool)
            if plan.serve:
                from benchmarks.serve_api import measure_serve

                self.serve = measure_serve(plan.throughput_levels, gateway)
                self.throughput += self.serve.pop("rows", [])
            pool.shutdown()
        finally:
            ray.shutdown()

    def warm_up(self, gateway: str, pool: Any) -> None:
        workload = throughput_workload()
        try:
            engines.walle_runner(workload, "full", gateway, pool)()
            engines.raw_ray_runner(workload, gateway, pool)()
        except Exception as exc:
            # The cells record their own failures; the warm-up only logs.
            logger.warning("warm-up run failed: %s: %s", type(exc).__name__, exc)

    def run_workload(
        self, workload: Workload, gateway: str, pool: Any, actors: list[Any]
    ) -> None:
        """Measure raw Ray, the Ray actor floor and Walle's modes on ``workload``.

        The floor runs on workloads of up to ``MAX_RAY_ACTORS_TASKS`` tasks.
        """
        contenders = [
            Contender(
                "raw-ray", "full", engines.raw_ray_runner(workload, gateway, pool)
            )
        ]
        if actors and workload.tasks <= MAX_RAY_ACTORS_TASKS:
            run_once = engines.ray_actors_runner(workload, actors)
            contenders.append(Contender("ray-actors", "full", run_once))
        for mode in self.plan.modes_for(workload):
            run_once = engines.walle_runner(workload, mode, gateway, pool)
            contenders.append(Contender("walle", mode, run_once))
        repeats = self.plan.repeats_for(workload)
        for cell in measure_alternating(workload, contenders, repeats):
            self.add_cell(cell)

    def add_cell(self, cell: Cell) -> None:
        """Keep a measured cell, and save every cell so far to the logs folder.

        Ray ends the driver process when its raylet dies (for example when
        ``ray stop`` runs on the machine), so the saved cells are what is
        left of such a run.
        """
        self.cells.append(cell)
        partial = self.work_dir / "cells.partial.json"
        data = [c.to_dict() for c in self.cells]
        partial.write_text(json.dumps(data, indent=1), encoding="utf-8")

    def run_library_throughput(self, gateway: str, pool: Any) -> None:
        """Measure executions per second of Walle and raw Ray at each level.

        Each level runs in ``THROUGHPUT_ROUNDS`` rounds per system, the
        systems taking turns, and each system's rounds add up to its row.
        """
        workload = throughput_workload()
        systems = {
            "walle": engines.walle_runner(workload, "full", gateway, pool),
            "raw-ray": engines.raw_ray_runner(workload, gateway, pool),
        }
        for level in self.plan.throughput_levels:
            rounds = min(THROUGHPUT_ROUNDS, level.executions)
            parts: dict[str, list[engines.ThroughputResult]] = {s: [] for s in systems}
            for round_index in range(rounds):
                share = level.executions // rounds + (
                    round_index < level.executions % rounds
                )
                order = list(systems.items())
                if round_index % 2:
                    order.reverse()
                for system, run_once in order:
                    parts[system].append(
                        engines.measure_throughput(run_once, level.concurrency, share)
                    )
            for system, results in parts.items():
                result = engines.ThroughputResult.combine(results)
                row = {"system": system, "via": "library", **result.to_dict()}
                logger.info("throughput %s", row)
                self.throughput.append(row)

    def run_peers(self, gateway: str) -> None:
        workloads = [w for w in self.plan.workloads if w.id in self.plan.peer_workloads]
        for name in self.plan.peers:
            python = peer_python(name)
            if python is None:
                self.peers[name] = {
                    "status": "not installed",
                    "detail": "run benchmarks/install-peers.sh to install it",
                }
                continue
            if not workloads:
                continue
            env: dict[str, str] = {}
            if name == "prefect":
                env = {
                    "PREFECT_HOME": tempfile.mkdtemp(prefix="walle-bench-prefect-"),
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_LOGGING_LEVEL": "WARNING",
                    "DO_NOT_TRACK": "1",
                }
            output, error, memory = run_runner(
                python,
                PEER_SCRIPTS[name],
                workloads_file=self.export_workloads(workloads, name),
                gateway=gateway,
                repeats=self.plan.peer_repeats(),
                budget_s=self.plan.peer_budget_s,
                workload_count=len(workloads),
                log_file=self.work_dir / f"{name}.log",
                env=env,
            )
            self.cells += runner_cells(name, output, error, workloads, memory)
            self.peers[name] = {
                "status": "ok" if not error else "error",
                "detail": error or None,
                "version": (output or {}).get("version"),
                "config": (output or {}).get("config"),
                "peak_rss_bytes": memory.peak_bytes,
            }
