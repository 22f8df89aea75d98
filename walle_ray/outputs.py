"""Capping task outputs for display and records, with a clear marker."""

from __future__ import annotations

import json
from typing import Any

PREVIEW_LIMIT_BYTES = 64 * 1024
"""Default size, in bytes of compact JSON, above which an output is capped."""

MARKER_PREVIEW_BYTES = 1024
"""Bytes of the encoded JSON kept as ``preview`` in a truncation marker."""


def cap_output(value: Any, limit_bytes: int = PREVIEW_LIMIT_BYTES) -> Any:
    """Return ``value``, or a marker in its place when its JSON is too large.

    The marker is ``{"truncated": true, "size_bytes": N, "preview": "..."}``
    where N is the size of the compact UTF-8 JSON and ``preview`` its first
    ``MARKER_PREVIEW_BYTES`` bytes. Short strings and scalars are returned as
    they are without encoding them.
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) and len(value) * 4 <= limit_bytes:
        return value
    encoded = json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), default=str
    ).encode()
    if len(encoded) <= limit_bytes:
        return value
    preview = encoded[:MARKER_PREVIEW_BYTES].decode("utf-8", errors="ignore")
    return {"truncated": True, "size_bytes": len(encoded), "preview": preview}


def is_truncated(value: Any) -> bool:
    """Tell whether ``value`` is a marker left by ``cap_output``."""
    return (
        isinstance(value, dict)
        and value.get("truncated") is True
        and "size_bytes" in value
        and "preview" in value
    )
