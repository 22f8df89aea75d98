"""The process that runs a ``walle run`` execution, and ending orphaned ones.

``walle run`` records its host name and process id in the execution's
``detail`` under ``runner``. When that process dies without writing the end
of the execution (SIGKILL, out of memory, a power cut), the execution stays
RUNNING in the store. :func:`end_orphaned` finds such executions whose
process ran on this host and no longer exists, and marks them ERROR.
Executions of other hosts are left alone, since their processes cannot be
checked from here.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from walle_ray.store.base import Store
from walle_ray.store.records import ExecutionRecord

logger = logging.getLogger(__name__)

RUNNER_KEY = "runner"
CLI_KIND = "walle run"


def cli_runner() -> dict[str, Any]:
    """Return the ``runner`` detail of an execution run by this process."""
    return {"kind": CLI_KIND, "host": socket.gethostname(), "pid": os.getpid()}


def runner_of(record: ExecutionRecord) -> dict[str, Any] | None:
    """Return the execution's ``runner`` detail, or None if it has none."""
    runner = record.detail.get(RUNNER_KEY)
    if not isinstance(runner, dict) or not isinstance(runner.get("pid"), int):
        return None
    return runner


def process_exists(pid: int) -> bool:
    """Return whether a process with id ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # The process exists but belongs to another user.
        return True
    return True


def runner_gone(runner: dict[str, Any], *, host: str | None = None) -> bool:
    """Return whether ``runner`` ran on this host and its process has ended.

    NOTE: a new process that reuses the dead one's id counts as the runner,
    so such an execution stays RUNNING until that process ends too.
    """
    local_host = socket.gethostname() if host is None else host
    if runner.get("host") != local_host:
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

    ``records`` are the unfinished executions when the caller has them
    already. Returns the ids of the executions marked.
    """
    if records is None:
        records = await store.list_unfinished_executions()
    ended: list[str] = []
    for record in records:
        runner = runner_of(record)
        if runner is None or not runner_gone(runner):
            continue
        error = orphan_error(runner)
        logger.warning("execution %s: %s", record.execution_id, error)
        await store.update_execution_status(
            record.execution_id, "ERROR", ended_at=time.time(), error=error
        )
        ended.append(record.execution_id)
    return ended
