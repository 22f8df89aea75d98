"""Summarise a list of numbers: count, sum, mean, median, min, max, stdev.

Request: ``{"numbers": [1, 2, 3]}``.
"""

from __future__ import annotations

import json
import math
import statistics
from typing import Any


def handle(event: Any, context: Any) -> dict[str, Any]:
    try:
        numbers = json.loads(event.body or b"{}").get("numbers")
    except (ValueError, AttributeError):
        numbers = None
    valid = isinstance(numbers, list) and all(
        isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n)
        for n in numbers
    )
    if not valid or not numbers:
        message = 'send {"numbers": [NUMBER, ...]} with at least one number'
        return {"statusCode": 400, "body": {"error": message}}
    return {
        "statusCode": 200,
        "body": {
            "count": len(numbers),
            "sum": sum(numbers),
            "mean": statistics.fmean(numbers),
            "median": statistics.median(numbers),
            "min": min(numbers),
            "max": max(numbers),
            "stdev": statistics.pstdev(numbers),
        },
    }
