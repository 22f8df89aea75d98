"""Split text into lower-case word tokens.

Request: ``{"text": "..."}``. Response: ``{"tokens": [...], "count": N}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")


def handle(event: Any, context: Any) -> dict[str, Any]:
    try:
        text = json.loads(event.body or b"{}").get("text")
    except (ValueError, AttributeError):
        text = None
    if not isinstance(text, str):
        return {"statusCode": 400, "body": {"error": 'send {"text": STRING}'}}
    tokens = [token.lower() for token in WORD.findall(text)]
    return {"statusCode": 200, "body": {"tokens": tokens, "count": len(tokens)}}
