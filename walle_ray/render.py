"""Terminal rendering of executions: the live task table, the summary table
and the Gantt chart, drawn with rich."""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from walle_ray.dag import Dag
from walle_ray.durations import format_duration
from walle_ray.results import ExecutionResult, TaskResult, TaskStatus

STATUS_STYLES = {
    TaskStatus.WAITING: "dim",
    TaskStatus.RUNNING: "bold cyan",
    TaskStatus.SUCCESS: "green",
    TaskStatus.ERROR: "bold red",
    TaskStatus.ABORT: "yellow",
    TaskStatus.SKIPPED: "dim italic",
    TaskStatus.CANCELLED: "magenta",
}
MAX_LIVE_ROWS = 40


class LiveProgress:
    """Execution listener that keeps a status per task for live display."""

    def __init__(self, task_names: Sequence[str]) -> None:
        self.status = dict.fromkeys(task_names, TaskStatus.WAITING)
        self.started: dict[str, float] = {}
        self.results: dict[str, TaskResult] = {}
        self.created_at = time.time()

    def task_started(self, name: str, at: float) -> None:
        self.status[name] = TaskStatus.RUNNING
        self.started[name] = at

    def task_finished(self, result: TaskResult) -> None:
        self.status[result.name] = result.status
        self.results[result.name] = result

    def __rich__(self) -> RenderableType:
        counts = {status: 0 for status in TaskStatus}
        for status in self.status.values():
            counts[status] += 1
        summary = Text(
            "  ".join(
                f"{status.value} {count}" for status, count in counts.items() if count
            )
        )
        table = Table(box=None, pad_edge=False, show_header=False)
        table.add_column("task")
        table.add_column("status")
        table.add_column("elapsed", justify="right")
        now = time.time()
        rows = [n for n, s in self.status.items() if s is TaskStatus.RUNNING]
        rows += [n for n, s in self.status.items() if s is not TaskStatus.RUNNING]
        for name in rows[:MAX_LIVE_ROWS]:
            status = self.status[name]
            result = self.results.get(name)
            if result is not None and result.duration_s is not None:
                elapsed = format_duration(result.duration_s)
            elif name in self.started:
                elapsed = format_duration(now - self.started[name])
            else:
                elapsed = ""
            table.add_row(name, Text(status.value, STATUS_STYLES[status]), elapsed)
        hidden = len(rows) - MAX_LIVE_ROWS
        parts: list[RenderableType] = [summary, table]
        if hidden > 0:
            parts.append(Text(f"... and {hidden} more tasks", "dim"))
        return Group(*parts)


def summary_table(result: ExecutionResult) -> Table:
    """Render one row per task: status, attempts, start offset, duration."""
    table = Table(title=f"{result.workflow} ({result.mode} mode)")
    table.add_column("task")
    table.add_column("status")
    table.add_column("attempts", justify="right")
    table.add_column("start", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("error", overflow="fold", max_width=60)
    for task in result.tasks.values():
        start = (
            "+" + format_duration(task.started_at - result.started_at)
            if task.started_at is not None
            else "-"
        )
        duration = format_duration(task.duration_s) if task.duration_s else "-"
        table.add_row(
            task.name,
            Text(task.status.value, STATUS_STYLES[task.status]),
            str(len(task.attempts)),
            start,
            duration,
            task.error or "",
        )
    return table


def gantt_chart(result: ExecutionResult, width: int = 60) -> Table:
    """Draw each task's run as a bar on a shared time axis."""
    total = max(result.duration_s or 0.0, 1e-6)
    name_width = max((len(n) for n in result.tasks), default=4)
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column("task", width=min(name_width, 30), overflow="ellipsis")
    table.add_column("timeline", width=width + 2)
    for task in result.tasks.values():
        bar = Text("|")
        if task.started_at is not None and task.ended_at is not None:
            begin = int((task.started_at - result.started_at) / total * width)
            end = int((task.ended_at - result.started_at) / total * width)
            begin = min(max(begin, 0), width - 1)
            end = min(max(end, begin + 1), width)
            bar.append(" " * begin)
            bar.append("█" * (end - begin), STATUS_STYLES[task.status])
            bar.append(" " * (width - end))
        else:
            bar.append(" " * width)
        bar.append("|")
        table.add_row(task.name, bar)
    axis = Text(" " + "0".ljust(width - 6) + format_duration(total).rjust(7))
    table.add_row("", axis)
    return table


def graph_report(dag: Dag, durations: dict[str, float], unit: str) -> RenderableType:
    """Render a DAG's levels and critical path for ``walle graph``."""
    levels = Table(title="levels", show_header=True)
    levels.add_column("level", justify="right")
    levels.add_column("tasks", overflow="fold")
    for index, names in enumerate(dag.levels()):
        levels.add_row(str(index), ", ".join(names))
    length, path = dag.critical_path(durations)
    critical = Text.assemble(
        ("critical path", "bold"),
        f" ({length:g} {unit}): ",
        " -> ".join(path),
    )
    ideal = dag.ideal_makespans(durations)
    makespans = Text(
        "ideal makespans: "
        + ", ".join(f"{mode} {value:g} {unit}" for mode, value in ideal.items())
    )
    return Group(levels, critical, makespans)
