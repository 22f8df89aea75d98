"""Invokers: the HTTP calls of tasks, and the Ray actors that make them."""

from walle_ray.invoker.actor import InvokerActor, InvokerPool, default_pool_size
from walle_ray.invoker.http import DEFAULT_MAX_OUTPUT_BYTES, TaskCall, invoke

__all__ = [
    "DEFAULT_MAX_OUTPUT_BYTES",
    "InvokerActor",
    "InvokerPool",
    "TaskCall",
    "default_pool_size",
    "invoke",
]
