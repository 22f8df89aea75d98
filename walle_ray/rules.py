"""Whether a task runs, given the results of its upstream tasks.

Shared by every execution mode and by the invoker actors, so a task is
aborted the same way whichever process decides it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from walle_ray.results import TaskResult, TaskStatus


def abort_result(name: str, upstream: Iterable[TaskResult]) -> TaskResult | None:
    """Return an ``ABORT`` result if an upstream task did not succeed.

    A task runs only after all of its dependencies ended ``SUCCESS``; the
    error names the first dependency that did not.
    """
    for result in upstream:
        if result.status is not TaskStatus.SUCCESS:
            return TaskResult(
                name=name,
                status=TaskStatus.ABORT,
                ended_at=time.time(),
                error=f"not run: upstream task '{result.name}' ended "
                f"{result.status.value}",
            )
    return None
