"""Transform a text: upper, lower, title, reverse or slug.

Request: ``{"text": "...", "operation": "upper"}`` (``upper`` by default).
Response: ``{"text": RESULT, "operation": NAME}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

OPERATIONS: dict[str, Callable[[str], str]] = {
    "upper": str.upper,
    "lower": str.lower,
    "title": str.title,
    "reverse": lambda text: text[::-1],
    "slug": lambda text: re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-"),
}


def handle(event: Any, context: Any) -> dict[str, Any]:
    try:
        request = json.loads(event.body or b"{}")
    except ValueError:
        request = None
    if not isinstance(request, dict) or not isinstance(request.get("text"), str):
        return {"statusCode": 400, "body": {"error": 'send {"text": STRING}'}}
    operation = request.get("operation", "upper")
    if operation not in OPERATIONS:
        known = ", ".join(OPERATIONS)
        return {
            "statusCode": 400,
            "body": {"error": f"unknown operation {operation!r}: use one of {known}"},
        }
    text = OPERATIONS[operation](request["text"])
    return {"statusCode": 200, "body": {"text": text, "operation": operation}}
