"""An invoker pool whose actors are spread over the nodes of a Ray cluster.

Invoker actors reserve no CPU, so Ray's default scheduling places them all
on the driver's node, and Ray's ``SPREAD`` strategy is best effort: on a
three-node local cluster it put three actors on two nodes. This pool gives
actor ``i`` a soft affinity to the ``i``-th alive node, round robin, so one
node's loss takes only part of the pool and Ray restarts a lost actor on a
node that is alive. A soft affinity still falls back to another node at
times (seen on a loaded machine), so ``wait_ready`` checks where each actor
runs and replaces misplaced ones, and placement stays best effort.
"""

from __future__ import annotations

import logging
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from walle_ray.invoker.actor import (
    CONNECTION_LIMIT,
    InvokerPool,
    default_pool_size,
)

logger = logging.getLogger(__name__)

PLACEMENT_ATTEMPTS = 3


class SpreadInvokerPool(InvokerPool):
    """An ``InvokerPool`` with its actors placed round robin on the alive nodes."""

    def __init__(
        self,
        size: int | None = None,
        *,
        name_prefix: str | None = None,
        connection_limit: int = CONNECTION_LIMIT,
    ) -> None:
        count = size if size is not None else default_pool_size()
        nodes = alive_nodes()
        self.targets = [nodes[index % len(nodes)] for index in range(max(count, 1))]
        super().__init__(
            count, name_prefix=name_prefix, connection_limit=connection_limit
        )

    def scheduling_strategy(self, index: int) -> Any:
        """Pin actor ``index`` softly to its target node."""
        return NodeAffinitySchedulingStrategy(self.targets[index], soft=True)

    def wait_ready(self, timeout_s: float = 120.0) -> list[int]:
        """Block until every actor has started, on its target node when alive.

        An actor that started elsewhere while its target node is alive is
        replaced, up to ``PLACEMENT_ATTEMPTS`` times. After that the pool
        keeps it where it is and logs a warning.
        """
        for generation in range(1, PLACEMENT_ATTEMPTS + 1):
            pids = super().wait_ready(timeout_s)
            misplaced = self.misplaced(timeout_s)
            if not misplaced:
                return pids
            if generation == PLACEMENT_ATTEMPTS:
                break
            logger.info(
                "replacing %d invoker actors that started off their nodes",
                len(misplaced),
            )
            for index in misplaced:
                ray.kill(self.actors[index])
                self.actors[index] = self.create_actor(index, generation)
            self._pids = None  # the replacements have not started yet
        logger.warning(
            "%d of %d invoker actors still run off their target nodes after "
            "%d attempts",
            len(misplaced),
            self.size,
            PLACEMENT_ATTEMPTS,
        )
        return pids

    def misplaced(self, timeout_s: float = 60.0) -> list[int]:
        """Return the indexes of actors running off their target node, if alive."""
        alive = set(alive_nodes())
        return [
            index
            for index, (actual, target) in enumerate(
                zip(self.actor_nodes(timeout_s), self.targets, strict=True)
            )
            if actual != target and target in alive
        ]

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
