"""Helpers shared by the tests that run workflows on Ray."""

from __future__ import annotations

from typing import Any

from walle_ray.engine import run_workflow
from walle_ray.invoker import InvokerPool
from walle_ray.results import ExecutionResult
from walle_ray.spec import load_workflow

MODES = ["sync", "batch", "full"]


def run(
    spec: str, mode: str, gateway: str, pool: InvokerPool, **kwargs: Any
) -> ExecutionResult:
    """Load ``spec`` and run it once in ``mode`` on ``pool``."""
    return run_workflow(
        load_workflow(spec), mode=mode, gateway=gateway, pool=pool, **kwargs
    )


def statuses(result: ExecutionResult) -> dict[str, str]:
    """Map each task of ``result`` to its status value."""
    return {name: task.status.value for name, task in result.tasks.items()}
