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


class LabelledPeakMemory:
    """Track the peak summed RSS of this process's tree for each label.

    Systems measured in alternation share one sampler: ``measure(label)``
    marks the block in which samples count towards ``label``, and a sample
    taken as the block ends covers runs shorter than the sampling interval.
    """

    def __init__(self) -> None:
        self._root = psutil.Process()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._label: str | None = None
        self.idle_bytes = 0
        self.peaks: dict[str, int] = {}

    def _record(self, label: str, current: int) -> None:
        with self._lock:
            self.peaks[label] = max(self.peaks.get(label, 0), current)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            label = self._label
            if label is None:
                continue
            current = tree_rss(self._root)
            # The label may have changed while the tree was read: count the
            # sample only for the block it was taken in.
            if self._label == label:
                self._record(label, current)

    def measure(self, label: str) -> _LabelBlock:
        return _LabelBlock(self, label)

    def __enter__(self) -> LabelledPeakMemory:
        self.idle_bytes = tree_rss(self._root)
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


class _LabelBlock:
    def __init__(self, memory: LabelledPeakMemory, label: str) -> None:
        self._memory = memory
        self._label = label

    def __enter__(self) -> None:
        self._memory._label = self._label

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._memory._label = None
        self._memory._record(self._label, tree_rss(self._memory._root))
