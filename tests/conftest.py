"""Shared fixtures: one Ray instance and one local function gateway per session.

Unit tests that need neither never touch these fixtures, so they run
without starting Ray.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_FUNCTIONS = ROOT / "examples" / "functions"
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """Start one local Ray instance for the whole test session."""
    import ray

    # "local" starts a new instance even when another Ray cluster runs here.
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        configure_logging=False,
    )
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def gateway_url() -> Iterator[str]:
    """Serve the built-in and example functions on loopback."""
    from walle_ray.gateway import LocalGateway

    with LocalGateway([EXAMPLE_FUNCTIONS]) as gateway:
        yield gateway.url


@pytest.fixture(scope="session")
def invoker_pool(ray_session: None) -> Iterator[object]:
    """A ready pool of two invoker actors shared by the Ray tests."""
    from walle_ray.invoker import InvokerPool

    pool = InvokerPool(2, name_prefix="walle-test-invoker")
    pool.wait_ready()
    yield pool
    pool.shutdown()
