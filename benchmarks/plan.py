"""The plan of a suite run: its workloads, systems, modes and repeats."""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks import workloads as wl
from benchmarks.workloads import Workload

FAMILIES = ("example", "chain", "fanout", "random")
PEERS = ("dask", "prefect", "ray-workflows")
SECTIONS = (*FAMILIES, "throughput", "serve", "peers", *PEERS)
MODES = ("full", "batch", "sync")

# A mode other than ``full`` runs only where its ideal makespan is at most
# this long, so slow schedules (sync on wide graphs) do not eat the run time.
MAX_MODE_IDEAL_S = 5.0
MAX_SYNC_TASKS = 200
# Workloads this large get fewer repeats and no warm-up run.
LARGE_TASKS = 10_000
LARGE_RUNS = 3
LARGE_BUDGET_S = 60.0


@dataclass(frozen=True)
class Repeats:
    """How often each cell runs: ``warmup`` unmeasured runs, then ``runs``.

    After ``min_runs`` measured runs, no run starts once the cell has used
    ``budget_s`` seconds.
    """

    runs: int
    warmup: int
    min_runs: int
    budget_s: float


@dataclass(frozen=True)
class ThroughputLevel:
    concurrency: int
    executions: int


@dataclass
class Plan:
    """Everything one suite run measures."""

    quick: bool
    workloads: list[Workload]
    repeats: Repeats
    peer_workloads: list[str] = field(default_factory=list)
    peers: list[str] = field(default_factory=list)
    throughput_levels: list[ThroughputLevel] = field(default_factory=list)
    library_throughput: bool = False
    serve: bool = False
    peer_budget_s: float = 60.0
    notes: list[str] = field(default_factory=list)

    def modes_for(self, workload: Workload) -> list[str]:
        """Return the Walle modes run on ``workload``."""
        ideal = workload.ideal_makespans()
        modes = ["full"]
        if self.quick or ideal["batch"] <= MAX_MODE_IDEAL_S:
            modes.append("batch")
        sync_fits = ideal["sync"] <= MAX_MODE_IDEAL_S
        if self.quick or (sync_fits and workload.tasks <= MAX_SYNC_TASKS):
            modes.append("sync")
        return modes

    def peer_repeats(self) -> Repeats:
        """Return the repeats of the peers, whose slowest runs last minutes.

        A peer workload stops after its first timed run once it has used
        ``peer_budget_s``.
        """
        return Repeats(self.repeats.runs, self.repeats.warmup, 1, self.peer_budget_s)

    def repeats_for(self, workload: Workload) -> Repeats:
        if workload.tasks >= LARGE_TASKS:
            runs = min(self.repeats.runs, LARGE_RUNS)
            return Repeats(runs, 0, 1, LARGE_BUDGET_S)
        if workload.ideal_makespans()["full"] >= 2.0:
            # A run this long warms nothing that earlier cells did not.
            return Repeats(
                self.repeats.runs, 0, self.repeats.min_runs, self.repeats.budget_s
            )
        return self.repeats


# The example workflow's shape with 10 ms calls: the execution measured for
# throughput.
THROUGHPUT_LATENCY_MS = 10.0


def throughput_workload() -> Workload:
    base = wl.example()
    return Workload(
        id=f"example@{THROUGHPUT_LATENCY_MS:g}ms",
        family="throughput",
        size=4,
        latency_ms=THROUGHPUT_LATENCY_MS,
        depends=base.depends,
        seconds=dict.fromkeys(base.depends, THROUGHPUT_LATENCY_MS / 1000),
    )


def full_workloads() -> list[Workload]:
    items = [wl.example()]
    items += [wl.chain(100, ms) for ms in (0, 10, 100)]
    for width in (100, 1_000, 10_000):
        items += [wl.fanout(width, ms) for ms in (0, 10, 100)]
    items += [wl.random_layered(size, 0) for size in (10, 30, 100, 300, 1_000)]
    items += [wl.random_layered(size, 10) for size in (10, 100, 1_000)]
    items += [wl.random_layered(100, 100)]
    return items


def quick_workloads() -> list[Workload]:
    return [
        wl.example(),
        wl.chain(10, 10),
        wl.fanout(20, 10),
        wl.random_layered(12, 10),
        wl.random_layered(12, 0),
    ]


FULL_PEER_WORKLOADS = (
    "example",
    "chain-100@10ms",
    "fanout-100@100ms",
    "fanout-1000@100ms",
    "random-100@10ms",
)


def _count(number: int, noun: str) -> str:
    """Return ``number`` with ``noun``, in the plural unless it is 1."""
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def make_plan(
    *,
    quick: bool,
    only: set[str] | None,
    runs: int | None,
) -> Plan:
    """Build the plan for ``--quick``, ``--only`` and ``--runs``."""
    unknown = (only or set()) - set(SECTIONS)
    if unknown:
        raise ValueError(
            f"invalid --only name(s) {', '.join(sorted(unknown))}: use "
            f"{', '.join(SECTIONS)}"
        )
    selected = set(SECTIONS) if only is None else only
    families = [f for f in FAMILIES if f in selected]
    if only is not None and not families and selected & {"peers", *PEERS}:
        families = list(FAMILIES)
    all_workloads = quick_workloads() if quick else full_workloads()
    workloads = [w for w in all_workloads if w.family in families]

    notes: list[str] = []
    if quick:
        repeats = Repeats(runs or 1, 0, 1, 30.0)
        levels = [ThroughputLevel(1, 4), ThroughputLevel(4, 8)]
    else:
        count = runs or 5
        repeats = Repeats(count, 1, min(3, count), 20.0)
        levels = [
            ThroughputLevel(1, 30),
            ThroughputLevel(10, 150),
            ThroughputLevel(100, 600),
        ]
        if any(w.tasks >= LARGE_TASKS for w in workloads):
            notes.append(
                f"Workloads of {LARGE_TASKS:,} or more tasks run at most "
                f"{LARGE_RUNS} times with no warm-up run, and after the first "
                f"run no further run starts once the cell has used "
                f"{LARGE_BUDGET_S:g} s."
            )
    notes.append(
        f"Each cell runs up to {_count(repeats.runs, 'time')} after "
        f"{_count(repeats.warmup, 'warm-up run')}; after "
        f"{_count(repeats.min_runs, 'run')} no further run starts once the cell "
        f"has used {repeats.budget_s:g} s. Cells whose ideal makespan is 2 s or "
        "more make no warm-up run."
    )

    wanted_peers = [p for p in PEERS if p in selected or "peers" in selected]
    peer_budget_s = 30.0 if quick else 60.0
    notes.append(
        "On each workload, raw Ray, the Ray actor floor and Walle's modes take "
        "turns: after every system's warm-up runs, each round times one run "
        "of each system, starting with a different system each round. Library "
        "throughput alternates Walle and raw Ray in two rounds per level."
    )
    notes.append(
        "The machine-limit and peer runners make their warm-up runs on their "
        "first workload only."
    )
    if wanted_peers:
        notes.append(
            "A peer stops repeating a workload after its first timed run once "
            f"the workload has used {peer_budget_s:g} s; the tables give each "
            "peer cell's number of runs."
        )
    if quick and not (only and selected & {"peers", *PEERS}):
        wanted_peers = []
        notes.append("Peers are not run with --quick.")
    ids = {w.id for w in workloads}
    peer_ids = [w.id for w in workloads] if quick else list(FULL_PEER_WORKLOADS)
    serve = "serve" in selected and not (quick and only is None)
    if quick and only is None:
        notes.append("The Serve HTTP API is not measured with --quick.")
    return Plan(
        quick=quick,
        workloads=workloads,
        repeats=repeats,
        peer_workloads=[i for i in peer_ids if i in ids],
        peers=wanted_peers,
        throughput_levels=levels,
        library_throughput="throughput" in selected,
        serve=serve,
        peer_budget_s=peer_budget_s,
        notes=notes,
    )
