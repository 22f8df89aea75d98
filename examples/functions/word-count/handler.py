"""Count how often each word occurs and return the most common ones.

Request: ``{"tokens": ["a", "b", "a"], "top": 10}`` or ``{"text": "..."}``.
Response: ``{"top": [[WORD, COUNT], ...], "distinct": N}``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def handle(event: Any, context: Any) -> dict[str, Any]:
    try:
        request = json.loads(event.body or b"{}")
    except ValueError:
        request = None
    if not isinstance(request, dict):
        request = {}
    tokens = request.get("tokens")
    if tokens is None and isinstance(request.get("text"), str):
        tokens = [word.lower() for word in WORD.findall(request["text"])]
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        message = 'send {"tokens": [STRING, ...]} or {"text": STRING}'
        return {"statusCode": 400, "body": {"error": message}}
    top = request.get("top", 10)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        return {"statusCode": 400, "body": {"error": f"top must be >= 1, got {top!r}"}}
    counts = Counter(tokens)
    return {
        "statusCode": 200,
        "body": {"top": counts.most_common(top), "distinct": len(counts)},
    }
