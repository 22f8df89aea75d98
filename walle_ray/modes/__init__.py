"""Execution modes: ``sync``, ``batch`` and ``full``."""

from walle_ray.modes.base import (
    ExecutionListener,
    ExecutionPlan,
    Mode,
    NullListener,
)
from walle_ray.modes.batch import run_batch
from walle_ray.modes.full import run_full
from walle_ray.modes.sync import run_sync

MODES: dict[str, Mode] = {"sync": run_sync, "batch": run_batch, "full": run_full}
DEFAULT_MODE = "full"

__all__ = [
    "DEFAULT_MODE",
    "MODES",
    "ExecutionListener",
    "ExecutionPlan",
    "Mode",
    "NullListener",
    "run_batch",
    "run_full",
    "run_sync",
]
