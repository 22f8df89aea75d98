"""Merge the JSON objects it receives into one report.

Request: a JSON object whose values are the parts to merge, e.g.
``{"tokens": {...}, "stats": {...}}``. Response: ``{"report": {...},
"sections": [NAMES]}`` with the parts under their keys, in sorted order.
"""

from __future__ import annotations

import json
from typing import Any


def handle(event: Any, context: Any) -> dict[str, Any]:
    try:
        request = json.loads(event.body or b"{}")
    except ValueError:
        request = None
    if not isinstance(request, dict):
        message = "send a JSON object whose values are the report sections"
        return {"statusCode": 400, "body": {"error": message}}
    report = {key: request[key] for key in sorted(request)}
    return {"statusCode": 200, "body": {"report": report, "sections": list(report)}}
