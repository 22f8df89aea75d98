"""Control of a running execution from outside the thread that runs it."""

from __future__ import annotations

import threading


class ExecutionControl:
    """A cancellation flag shared between an execution and its callers.

    ``cancel`` may be called from any thread. The execution checks the flag
    between steps and cancels its running HTTP calls; tasks that were running
    or not yet started end ``CANCELLED``.
    """

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self.reason: str | None = None

    def cancel(self, reason: str = "cancelled by request") -> None:
        """Ask the execution to stop; later calls keep the first reason."""
        if not self._cancelled.is_set():
            self.reason = reason
            self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        """Whether ``cancel`` has been called."""
        return self._cancelled.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or ``timeout`` seconds pass; return the flag."""
        return self._cancelled.wait(timeout)
