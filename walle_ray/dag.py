"""The task graph: topological order, levels and the critical path.

Pure Python with no Ray import, so it can be used by validation, the CLI and
every execution mode alike. Graphs are given as a mapping from each task name
to the names it depends on; the mapping's order is the declaration order and
breaks ties, so every result is deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


def find_cycle(depends: Mapping[str, Sequence[str]]) -> list[str] | None:
    """Return one cycle as a closed path such as ``[a, b, c, a]``, or None.

    Edges to names missing from the mapping are ignored. The search is
    iterative, so chains of any length are safe.
    """
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(depends, white)
    for root in depends:
        if color[root] != white:
            continue
        color[root] = grey
        path = [root]
        stack = [iter(depends[root])]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                color[path.pop()] = black
                continue
            state = color.get(child)
            if state == grey:
                # ``path`` follows dependency edges, so reverse it to read as
                # "runs before" order: the dependency first.
                cycle = [*path[path.index(child) :], child]
                return list(reversed(cycle))
            if state == white:
                color[child] = grey
                path.append(child)
                stack.append(iter(depends[child]))
    return None


@dataclass(frozen=True)
class Dag:
    """An acyclic task graph with its derived orders.

    Build it with ``Dag.build``, which rejects unknown names and cycles.
    """

    depends: dict[str, tuple[str, ...]]
    dependents: dict[str, tuple[str, ...]] = field(repr=False)
    order: tuple[str, ...] = field(repr=False)
    level_of: dict[str, int] = field(repr=False)

    @classmethod
    def build(cls, depends: Mapping[str, Sequence[str]]) -> Dag:
        deps = {name: tuple(dict.fromkeys(up)) for name, up in depends.items()}
        for name, ups in deps.items():
            for up in ups:
                if up not in deps:
                    raise ValueError(f"task '{name}' depends on unknown task '{up}'")
        cycle = find_cycle(deps)
        if cycle is not None:
            raise ValueError("dependency cycle: " + " -> ".join(cycle))

        children: dict[str, list[str]] = {name: [] for name in deps}
        for name, ups in deps.items():
            for up in ups:
                children[up].append(name)
        order = _kahn_order(deps, children)
        level_of: dict[str, int] = {}
        for name in order:
            level_of[name] = 1 + max((level_of[u] for u in deps[name]), default=-1)
        return cls(
            depends=deps,
            dependents={k: tuple(v) for k, v in children.items()},
            order=tuple(order),
            level_of=level_of,
        )

    def __len__(self) -> int:
        return len(self.depends)

    @property
    def roots(self) -> list[str]:
        return [name for name in self.depends if not self.depends[name]]

    @property
    def leaves(self) -> list[str]:
        return [name for name in self.depends if not self.dependents[name]]

    def levels(self) -> list[list[str]]:
        """Group tasks by the length of the longest path from a root.

        Every dependency of a task sits on an earlier level, so running the
        levels one after another respects the graph.
        """
        count = max(self.level_of.values(), default=-1) + 1
        grouped: list[list[str]] = [[] for _ in range(count)]
        for name in self.depends:
            grouped[self.level_of[name]].append(name)
        return grouped

    def downstream(self, name: str) -> set[str]:
        """Return every task that depends on ``name``, directly or not."""
        seen: set[str] = set()
        stack = list(self.dependents[name])
        while stack:
            child = stack.pop()
            if child not in seen:
                seen.add(child)
                stack.extend(self.dependents[child])
        return seen

    def critical_path(self, durations: Mapping[str, float]) -> tuple[float, list[str]]:
        """Return the longest weighted path as ``(length, task names)``.

        ``durations`` gives each task's weight, in any unit; a missing task
        weighs 0. The length is the makespan of an ideal run in which each
        task starts the moment its dependencies finish.
        """
        finish: dict[str, float] = {}
        via: dict[str, str | None] = {}
        for name in self.order:
            best_up = max(self.depends[name], key=lambda u: finish[u], default=None)
            start = finish[best_up] if best_up is not None else 0.0
            finish[name] = start + durations.get(name, 0.0)
            via[name] = best_up
        if not finish:
            return 0.0, []
        last: str | None = max(self.order, key=lambda n: finish[n])
        length = finish[last] if last is not None else 0.0
        path: list[str] = []
        while last is not None:
            path.append(last)
            last = via[last]
        return length, list(reversed(path))

    def ideal_makespans(self, durations: Mapping[str, float]) -> dict[str, float]:
        """Return the theoretical makespan of each execution mode.

        ``sync`` runs one task at a time (the sum), ``batch`` runs level after
        level (the sum of each level's maximum), ``full`` starts each task as
        soon as it can (the critical path).
        """
        sync = sum(durations.get(n, 0.0) for n in self.depends)
        batch = sum(
            max((durations.get(n, 0.0) for n in level), default=0.0)
            for level in self.levels()
        )
        full, _ = self.critical_path(durations)
        return {"sync": sync, "batch": batch, "full": full}


def _kahn_order(
    deps: Mapping[str, tuple[str, ...]], children: Mapping[str, list[str]]
) -> list[str]:
    """Order tasks so each follows its dependencies, ties in declaration order."""
    position = {name: i for i, name in enumerate(deps)}
    remaining = {name: len(ups) for name, ups in deps.items()}
    ready = [position[name] for name, count in remaining.items() if count == 0]
    heapq.heapify(ready)
    names = list(deps)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for child in children[name]:
            remaining[child] -= 1
            if remaining[child] == 0:
                heapq.heappush(ready, position[child])
    return order
