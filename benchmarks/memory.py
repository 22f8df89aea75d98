"""Peak resident memory of a process tree, sampled in a background thread."""

from __future__ import annotations

import threading
from types import TracebackType

import psutil

SAMPLE_INTERVAL_S = 0.1


def tree_rss(root: psutil.Process, *, include_root: bool = True) -> int:
    """Return the summed RSS in bytes of ``root``'s descendants (and ``root``).

    NOTE: RSS counts shared pages once per process, so the sum overstates
    memory that processes share, such as Ray's object store.
    """
    processes = root.children(recursive=True)
    if include_root:
        processes.append(root)
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


class PeakMemory:
    """Track the peak summed RSS of this process's tree while in the block."""

    def __init__(self, *, include_self: bool = True) -> None:
        self._root = psutil.Process()
        self._include_self = include_self
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.idle_bytes = 0
        self.peak_bytes = 0

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            current = tree_rss(self._root, include_root=self._include_self)
            self.peak_bytes = max(self.peak_bytes, current)

    def __enter__(self) -> PeakMemory:
        self.idle_bytes = tree_rss(self._root, include_root=self._include_self)
        self.peak_bytes = self.idle_bytes
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        final = tree_rss(self._root, include_root=self._include_self)
        self.peak_bytes = max(self.peak_bytes, final)
