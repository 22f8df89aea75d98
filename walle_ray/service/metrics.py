"""Prometheus metrics of the orchestrator, through ``ray.util.metrics``.

Ray exports them on each node's metrics endpoint with the prefix ``ray_``,
for example ``ray_walle_executions_started_total``.
"""

from __future__ import annotations

from ray.util.metrics import Counter, Histogram

from walle_ray.results import TaskResult

TASK_DURATION_BOUNDARIES_S = [
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
]
NO_RESPONSE = "none"
"""The ``status_code`` tag of an invocation that got no HTTP response."""


class ServiceMetrics:
    """The counters and histograms that the orchestrator records."""

    def __init__(self) -> None:
        self.executions_started = Counter(
            "walle_executions_started",
            description="Executions started, by workflow and mode.",
            tag_keys=("workflow", "mode"),
        )
        self.executions_finished = Counter(
            "walle_executions_finished",
            description="Executions finished, by workflow and final status.",
            tag_keys=("workflow", "status"),
        )
        self.task_duration = Histogram(
            "walle_task_duration_seconds",
            description="Time from a task's start to its end, retries included.",
            boundaries=TASK_DURATION_BOUNDARIES_S,
            tag_keys=("workflow", "status"),
        )
        self.invocations = Counter(
            "walle_invocations",
            description="HTTP calls made for tasks, by response status code.",
            tag_keys=("status_code",),
        )
        self.recorded = 0
        """Number of record calls, so tests can tell metrics were updated."""

    def execution_started(self, workflow: str, mode: str) -> None:
        self.executions_started.inc(1, tags={"workflow": workflow, "mode": mode})
        self.recorded += 1

    def execution_finished(self, workflow: str, status: str) -> None:
        self.executions_finished.inc(1, tags={"workflow": workflow, "status": status})
        self.recorded += 1

    def task_finished(self, workflow: str, result: TaskResult) -> None:
        duration = result.duration_s
        if duration is not None:
            self.task_duration.observe(
                duration, tags={"workflow": workflow, "status": result.status.value}
            )
        for attempt in result.attempts:
            code = (
                str(attempt.status_code)
                if attempt.status_code is not None
                else NO_RESPONSE
            )
            self.invocations.inc(1, tags={"status_code": code})
        self.recorded += 1
