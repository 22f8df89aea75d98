"""The process that runs a ``walle run`` execution, and ending orphaned ones.

``walle run`` records its host name, process id and PID namespace in the
execution's ``detail`` under ``runner``. When that process dies without
writing the end of the execution (SIGKILL, out of memory, a power cut), the
execution stays RUNNING in the store. :func:`end_orphaned` finds such
executions whose process ran on this host and no longer exists, and marks
them and their unfinished tasks ERROR. Executions of other hosts or PID
namespaces are left alone, since their processes cannot be checked from
here.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from walle_ray.results import TaskResult, TaskStatus
from walle_ray.store.base import UNFINISHED_STATUSES, Store
from walle_ray.store.records import ExecutionRecord

logger = logging.getLogger(__name__)

RUNNER_KEY = "runner"
CLI_KIND = "walle run"
_PID_NAMESPACE = Path("/proc/self/ns/pid")


def pid_namespace() -> int | None:
    """Return the inode of this process's PID namespace, or None off Linux."""
    try:
        return _PID_NAMESPACE.stat().st_ino
    except OSError:
        return None


def cli_runner() -> dict[str, Any]:
    """Return the ``runner`` detail of an execution run by this process."""
    return {
        "kind": CLI_KIND,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_namespace": pid_namespace(),
    }


def runner_of(record: ExecutionRecord) -> dict[str, Any] | None:
    """Return the execution's ``runner`` detail, or None if it has none."""
    runner = record.detail.get(RUNNER_KEY)
    if not isinstance(runner, dict) or not isinstance(runner.get("pid"), int):
        return None
    return runner


def process_exists(pid: int) -> bool:
    """Return whether a process with id ``pid`` runs on this host.

    A zombie, a process that has ended and waits for its parent to read its
    status, does not count.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # The process exists but belongs to another user.
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True
    # The state follows the command name, which is in parentheses.
    state = stat.rpartition(")")[2].split()
    return not state or state[0] != "Z"


def runner_gone(
    runner: dict[str, Any],
    *,
    host: str | None = None,
    namespace: int | None = None,
) -> bool:
    """Return whether ``runner`` ran on this host and its process has ended.

    ``host`` and ``namespace`` default to this process's host name and PID
    namespace. A runner recorded in another PID namespace (another
    container with the same host name) is never gone, since its process
    cannot be seen from here.

    NOTE: a new process that reuses the dead one's id counts as the runner,
    so such an execution stays RUNNING until that process ends too.
    """
    local_host = socket.gethostname() if host is None else host
    if runner.get("host") != local_host:
        return False
    recorded = runner.get("pid_namespace")
    local_namespace = pid_namespace() if namespace is None else namespace
    if recorded is not None and recorded != local_namespace:
        return False
    return not process_exists(runner["pid"])


def orphan_error(runner: dict[str, Any]) -> str:
    return (
        f"the {runner.get('kind', CLI_KIND)} process (pid {runner['pid']} on "
        f"{runner.get('host')}) ended before the execution did, without "
        "recording its end, for example killed by SIGKILL; run the workflow "
        "again to get a result"
    )


async def end_orphaned(
    store: Store, records: list[ExecutionRecord] | None = None
) -> list[str]:
    """Mark ERROR each unfinished execution whose runner process has ended.

    Its tasks that were still running end ERROR too. ``records`` are the
    unfinished executions when the caller has them already. Returns the ids
    of the executions marked.
    """
    if records is None:
        records = await store.list_unfinished_executions(with_tasks=False)
    ended: list[str] = []
    for record in records:
        runner = runner_of(record)
        if runner is None or not runner_gone(runner):
            continue
        # Read it again: the process may have recorded the end meanwhile.
        current = await store.get_execution(record.execution_id)
        if current is None or current.status not in UNFINISHED_STATUSES:
            continue
        error = orphan_error(runner)
        logger.warning("execution %s: %s", record.execution_id, error)
        now = time.time()
        unfinished = [
            TaskResult(
                name=run.name,
                status=TaskStatus.ERROR,
                started_at=run.started_at,
                ended_at=now,
                error=f"not finished: {error}",
            )
            for run in current.tasks
            if run.status in UNFINISHED_STATUSES
        ]
        if unfinished:
            await store.save_task_results(record.execution_id, unfinished)
        await store.update_execution_status(
            record.execution_id, "ERROR", ended_at=now, error=error
        )
        ended.append(record.execution_id)
    return ended
