"""Executions per second through the Serve HTTP API, when it is available."""

from __future__ import annotations

import importlib.util
from typing import Any

from benchmarks.plan import ThroughputLevel


def measure_serve(levels: list[ThroughputLevel], gateway: str) -> dict[str, Any]:
    """Measure the Serve API's throughput, or say why it was not measured."""
    if importlib.util.find_spec("serve_app") is None:
        return {
            "status": "not available",
            "detail": "the serve_app package is not installed in this environment",
        }
    return {
        "status": "not available",
        "detail": "serve_app has no entry point this suite knows how to start",
    }
