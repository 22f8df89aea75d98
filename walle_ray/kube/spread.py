"""An invoker pool whose actors are spread over the nodes of a Ray cluster.

Invoker actors reserve no CPU, so Ray's default scheduling places them all
on the driver's node, and Ray's ``SPREAD`` strategy is best effort: on a
three-node local cluster it put three actors on two nodes. This pool pins
actor ``i`` to the ``i``-th alive node, round robin, with a soft node
affinity, so one node's loss takes only part of the pool and Ray restarts
a lost actor on a node that is alive.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from walle_ray.invoker.actor import (
    CONNECTION_LIMIT,
    MAX_CONCURRENT_CALLS,
    InvokerActor,
    InvokerPool,
    default_pool_size,
)

logger = logging.getLogger(__name__)


class SpreadInvokerPool(InvokerPool):
    """An ``InvokerPool`` with its actors placed round robin on the alive nodes."""

    def __init__(
        self,
        size: int | None = None,
        *,
        name_prefix: str | None = None,
        connection_limit: int = CONNECTION_LIMIT,
    ) -> None:
        # NOTE: this repeats InvokerPool's actor options because the base
        # class takes no scheduling strategy; keep the two in step.
        self.size = size if size is not None else default_pool_size()
        if self.size < 1:
            raise ValueError(f"invalid invoker pool size {self.size}: use 1 or more")
        prefix = name_prefix or f"walle-invoker-{uuid.uuid4().hex[:8]}"
        nodes = alive_nodes()
        self.actors: list[Any] = [
            InvokerActor.options(  # type: ignore[attr-defined]
                name=f"{prefix}-{index}",
                num_cpus=0,
                max_concurrency=MAX_CONCURRENT_CALLS,
                max_restarts=-1,
                max_task_retries=-1,
                scheduling_strategy=NodeAffinitySchedulingStrategy(
                    nodes[index % len(nodes)], soft=True
                ),
            ).remote(connection_limit)
            for index in range(self.size)
        ]
        self._next = 0
        logger.info(
            "started %d invoker actors spread over %d nodes",
            self.size,
            min(self.size, len(nodes)),
        )

    def actor_nodes(self, timeout_s: float = 60.0) -> list[str]:
        """Return the id of the node each actor runs on, in pool order."""
        refs = [actor.__ray_call__.remote(_node_id) for actor in self.actors]
        nodes: list[str] = ray.get(refs, timeout=timeout_s)
        return nodes


def _node_id(_instance: object) -> str:
    node: str = ray.get_runtime_context().get_node_id()
    return node


def alive_nodes() -> list[str]:
    """Return the ids of the cluster's alive nodes, sorted for a stable order."""
    return sorted(node["NodeID"] for node in ray.nodes() if node["Alive"])
