"""A record of started HTTP calls that outlives the invoker actors.

When an invoker actor dies (its process is killed or its node is lost), Ray
restarts it and runs the calls it had in flight again, but the attempts made
by the dead actor die with it. Each invoker therefore reports the calls it
starts to an ``AttemptLedger`` actor on the driver's node, in batches every
``FLUSH_INTERVAL_S``, and a restarted invoker asks the ledger how often a
call was started before, so the task's record shows the lost attempts and
its attempt numbers continue where they stopped.
"""

from __future__ import annotations

import time
from collections import defaultdict

import ray

from walle_ray.invoker.http import TaskCall
from walle_ray.results import Attempt

FLUSH_INTERVAL_S = 0.05
"""How often an invoker sends the calls it started to the ledger."""

LOST_ATTEMPT_ERROR = (
    "lost: the invoker actor making this call died (process killed or node "
    "lost), so Ray ran the call again on a restarted actor"
)


def call_key(call: TaskCall) -> str:
    """Return the key of a call within its execution: task and item."""
    return call.task if call.item is None else f"{call.task}/{call.item}"


class AttemptLedger:
    """Start times of calls, by execution and call key; the actor is ``LedgerActor``.

    NOTE: a start reported less than ``FLUSH_INTERVAL_S`` before its actor
    died can be missing, so the lost attempts it shows are a lower bound.
    """

    def __init__(self) -> None:
        self._started: dict[str, dict[str, list[float]]] = defaultdict(dict)

    def record(self, starts: list[tuple[str, str, float]]) -> None:
        """Add ``(execution_id, call key, started_at)`` entries."""
        for execution_id, key, started_at in starts:
            self._started[execution_id].setdefault(key, []).append(started_at)

    def started(self, execution_id: str, key: str) -> list[float]:
        """Return the start times recorded for one call, oldest first."""
        return list(self._started.get(execution_id, {}).get(key, ()))

    def forget(self, *execution_ids: str) -> None:
        """Drop what was recorded for executions that have ended."""
        for execution_id in execution_ids:
            self._started.pop(execution_id, None)


LedgerActor = ray.remote(AttemptLedger)


def lost_attempts(starts: list[float], until: float | None = None) -> list[Attempt]:
    """Build the records of attempts that started at ``starts`` and were lost.

    Each one is taken to end when the next one started, the last at ``until``.
    """
    ends = [*starts[1:], until if until is not None else time.time()]
    return [
        Attempt(
            number=number,
            started_at=started_at,
            ended_at=max(started_at, ended_at),
            error=LOST_ATTEMPT_ERROR,
        )
        for number, (started_at, ended_at) in enumerate(
            zip(starts, ends, strict=True), start=1
        )
    ]
