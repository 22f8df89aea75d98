"""Walle on Ray: serverless workflows as YAML DAGs of HTTP functions, on Ray."""

from walle_ray.dag import Dag
from walle_ray.errors import ExecutionError, SpecError, SpecIssue, WalleError
from walle_ray.results import (
    Attempt,
    ExecutionResult,
    ExecutionStatus,
    TaskResult,
    TaskStatus,
)
from walle_ray.spec import (
    RetryPolicy,
    Task,
    Trigger,
    Workflow,
    load_workflow,
    load_workflow_file,
    load_workflows,
)

__all__ = [
    "Attempt",
    "Dag",
    "ExecutionError",
    "ExecutionResult",
    "ExecutionStatus",
    "RetryPolicy",
    "SpecError",
    "SpecIssue",
    "Task",
    "TaskResult",
    "TaskStatus",
    "Trigger",
    "WalleError",
    "Workflow",
    "load_workflow",
    "load_workflow_file",
    "load_workflows",
]
__version__ = "0.1.0"
