"""Raise an error on every call."""

from typing import Any


def handle(event: Any, context: Any) -> str:
    raise ValueError("handler failed on purpose")
