"""Ordered events of one execution, for server-sent event streams.

The orchestrator appends an event after the store has recorded the change
it describes, so a reader that takes the last sequence number before it
reads the store sees every earlier change in the stored record.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

EXECUTION_STARTED = "execution_started"
TASK_STARTED = "task_started"
TASK_FINISHED = "task_finished"
EXECUTION_FINISHED = "execution_finished"
SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class ExecutionEvent:
    """One event: ``seq`` counts up by 1 from its log's ``base`` + 1."""

    seq: int
    type: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "data": self.data}


class EventLog:
    """The events of one execution, kept in order, with waiting for new ones.

    The first event's sequence number is ``base`` + 1. A log created after
    another one of the same execution (by a restarted orchestrator) takes a
    larger ``base``, so that a client's ``Last-Event-ID`` from the older log
    is recognised as such instead of skipping the new log's events.
    Methods must be called from the event loop that owns the log.
    """

    def __init__(self, base: int = 0) -> None:
        self.base = base
        self._events: list[ExecutionEvent] = []
        self._closed = False
        self._changed = asyncio.Condition()

    @property
    def last_seq(self) -> int:
        return self.base + len(self._events)

    def foreign(self, seq: int) -> bool:
        """Return whether ``seq`` is not an id of this log's events.

        Such an id comes from an older log of the execution, or from
        elsewhere. Zero and below mean "from the start of this log".
        """
        return 0 < seq <= self.base or seq > self.last_seq

    @property
    def closed(self) -> bool:
        """Whether the execution ended, so no event follows."""
        return self._closed

    async def append(
        self, event_type: str, data: dict[str, Any], *, final: bool = False
    ) -> ExecutionEvent:
        """Add an event and wake the readers; ``final`` closes the log."""
        if self._closed:
            raise RuntimeError(f"cannot append {event_type!r}: the event log is closed")
        event = ExecutionEvent(self.last_seq + 1, event_type, data)
        self._events.append(event)
        self._closed = final
        async with self._changed:
            self._changed.notify_all()
        return event

    def after(self, seq: int) -> list[ExecutionEvent]:
        """Return the events with a sequence number above ``seq``."""
        return self._events[max(seq - self.base, 0) :]

    async def wait_after(self, seq: int, timeout_s: float) -> list[ExecutionEvent]:
        """Return events after ``seq``, waiting up to ``timeout_s`` for one.

        Returns an empty list on timeout, or at once when the log is closed
        and has nothing after ``seq``.
        """
        if self.last_seq > seq or self._closed:
            return self.after(seq)
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.last_seq > seq or self._closed),
                    timeout_s,
                )
            except TimeoutError:
                return []
        return self.after(seq)


def format_sse(event_type: str, data: Any, event_id: int | None = None) -> str:
    """Render one server-sent event: optional ``id``, ``event`` and JSON ``data``."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event_type}")
    payload = json.dumps(data, separators=(",", ":"), default=str)
    lines.append(f"data: {payload}")
    return "\n".join(lines) + "\n\n"
