"""Benchmark workloads: task graphs with a latency per task.

A workload is engine-neutral: a dependency mapping and the seconds each
task's function call takes on the gateway's ``sleep`` function. The main
suite turns it into a ``walle_ray.spec.Workflow``, and the peer runners read
the same definitions from JSON.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from walle_ray.dag import Dag
from walle_ray.spec import Task, Workflow

# Latencies of the original example workflow's tasks, in seconds.
EXAMPLE_LATENCIES = {"task-1": 0.05, "task-2": 0.3, "task-3": 0.1, "task-4": 0.2}
EXAMPLE_DEPENDS: dict[str, list[str]] = {
    "task-1": [],
    "task-2": [],
    "task-3": ["task-1", "task-2"],
    "task-4": ["task-1"],
}
RANDOM_SEED = 20240601
# A task of a random layered DAG depends on 1 to this many earlier tasks.
RANDOM_MAX_DEPENDS = 3


@dataclass(frozen=True)
class Workload:
    """One task graph with the latency of each task, in seconds.

    ``family`` groups workloads for tables and plots (``example``, ``chain``,
    ``fanout``, ``random``), and ``size`` is the parameter that family
    varies. ``latency_ms`` is None when tasks have different latencies.
    """

    id: str
    family: str
    size: int
    latency_ms: float | None
    depends: dict[str, list[str]]
    seconds: dict[str, float]
    dag: Dag = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dag", Dag.build(self.depends))

    @property
    def tasks(self) -> int:
        return len(self.depends)

    @property
    def width(self) -> int:
        """Return the maximum number of tasks on one level (tasks in flight)."""
        return max(len(level) for level in self.dag.levels())

    def ideal_makespans(self) -> dict[str, float]:
        return self.dag.ideal_makespans(self.seconds)

    def to_workflow(self) -> Workflow:
        """Build the workflow: every task calls the gateway's ``sleep`` function."""
        tasks = [
            Task(
                name=name,
                function="sleep",
                body={"seconds": self.seconds[name]},
                depends=tuple(self.depends[name]),
                timeout=max(60.0, 10 * self.seconds[name]),
            )
            for name in self.depends
        ]
        # Workflow names allow letters, digits, '-' and '_' only.
        name = self.id.replace("@", "-at-").replace(".", "_")
        return Workflow(name=name, tasks=tuple(tasks))

    def to_json(self) -> dict[str, Any]:
        """Describe the workload for the peer runners, in topological order."""
        return {
            "id": self.id,
            "family": self.family,
            "size": self.size,
            "latency_ms": self.latency_ms,
            "ideal": self.ideal_makespans(),
            "tasks": [
                {
                    "name": name,
                    "depends": list(self.depends[name]),
                    "seconds": self.seconds[name],
                }
                for name in self.dag.order
            ],
        }


def _uniform(
    family: str, size: int, latency_ms: float, depends: dict[str, list[str]]
) -> Workload:
    seconds = dict.fromkeys(depends, latency_ms / 1000)
    return Workload(
        id=f"{family}-{size}@{latency_ms:g}ms",
        family=family,
        size=size,
        latency_ms=latency_ms,
        depends=depends,
        seconds=seconds,
    )


def example() -> Workload:
    """Build the original example DAG with its own latencies (50 to 300 ms)."""
    return Workload(
        id="example",
        family="example",
        size=4,
        latency_ms=None,
        depends={name: list(deps) for name, deps in EXAMPLE_DEPENDS.items()},
        seconds=dict(EXAMPLE_LATENCIES),
    )


def chain(length: int, latency_ms: float) -> Workload:
    """Build ``t0 -> t1 -> ... -> t(length-1)``."""
    depends = {f"t{i}": ([f"t{i - 1}"] if i else []) for i in range(length)}
    return _uniform("chain", length, latency_ms, depends)


def fanout(width: int, latency_ms: float) -> Workload:
    """Build ``source -> W parallel tasks -> sink``."""
    middle = [f"m{i}" for i in range(width)]
    depends: dict[str, list[str]] = {"source": []}
    depends.update({name: ["source"] for name in middle})
    depends["sink"] = middle
    return _uniform("fanout", width, latency_ms, depends)


def random_layered(size: int, latency_ms: float, seed: int = RANDOM_SEED) -> Workload:
    """Build a seeded random layered DAG of ``size`` tasks.

    Tasks are spread over about sqrt(size) layers. Every task past the first
    layer depends on one task of the layer before it, so it sits on exactly
    that level, plus up to ``RANDOM_MAX_DEPENDS - 1`` tasks of any earlier
    layer.
    """
    rng = random.Random(seed + size)
    layer_count = max(1, round(math.sqrt(size)))
    layers: list[list[str]] = [[] for _ in range(layer_count)]
    for index in range(size):
        # The first layer_count tasks seed every layer, so none stays empty.
        layer = index if index < layer_count else rng.randrange(layer_count)
        layers[layer].append(f"r{index}")
    depends: dict[str, list[str]] = {}
    earlier: list[str] = []
    for number, layer_tasks in enumerate(layers):
        for name in layer_tasks:
            if number == 0:
                depends[name] = []
                continue
            ups = {rng.choice(layers[number - 1])}
            extra = rng.randrange(RANDOM_MAX_DEPENDS)
            ups.update(rng.sample(earlier, min(extra, len(earlier))))
            depends[name] = sorted(ups, key=lambda n: int(n[1:]))
        earlier.extend(layer_tasks)
    ordered = {name: depends[name] for layer in layers for name in layer}
    return _uniform("random", size, latency_ms, ordered)
