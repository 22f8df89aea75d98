"""Count characters, words, sentences and lines of a text.

Request: ``{"text": "..."}``. Response: the counts and the mean word length.
"""

from __future__ import annotations

import json
import re
from typing import Any

WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")


def handle(event: Any, context: Any) -> dict[str, Any]:
    try:
        text = json.loads(event.body or b"{}").get("text")
    except (ValueError, AttributeError):
        text = None
    if not isinstance(text, str):
        return {"statusCode": 400, "body": {"error": 'send {"text": STRING}'}}
    words = WORD.findall(text)
    sentences = len(SENTENCE_END.findall(text)) or (1 if words else 0)
    mean = round(sum(map(len, words)) / len(words), 3) if words else 0.0
    return {
        "statusCode": 200,
        "body": {
            "characters": len(text),
            "words": len(words),
            "sentences": sentences,
            "lines": len(text.splitlines()) or (1 if text else 0),
            "mean_word_length": mean,
        },
    }
