"""Size cap and JSON encoding of the values the store writes to JSON columns."""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_BYTES = 1024 * 1024
"""Default cap, in bytes of compact UTF-8 JSON, on each stored input or output.

It applies to each task output, each execution output and each execution input
on its own. A larger value is replaced by the marker from :func:`cap_json`.
"""

PREVIEW_BYTES = 1024
"""Bytes of the encoded JSON kept as ``preview`` in a truncation marker."""


def encode_json(value: Any) -> tuple[str, bool]:
    """Encode ``value`` as compact JSON.

    Values that JSON has no type for (datetimes, sets, objects) are written as
    their ``str()``. Returns the text and whether such a conversion happened.
    Raises ValueError for NaN and infinite floats, which PostgreSQL's JSON type
    rejects.
    """
    converted = False

    def fallback(item: Any) -> str:
        nonlocal converted
        converted = True
        return str(item)

    text = json.dumps(
        value,
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
        default=fallback,
    )
    return text, converted


MAX_ERROR_CHARS = 64 * 1024
"""Cap, in characters, on each stored error message."""


def truncation_marker(
    encoded: bytes, preview_bytes: int = PREVIEW_BYTES
) -> dict[str, Any]:
    """Build the object stored in place of a value whose JSON is ``encoded``."""
    # Cutting bytes can split a multi-byte character, so the partial one is dropped.
    preview = encoded[:preview_bytes].decode("utf-8", errors="ignore")
    return {"truncated": True, "size_bytes": len(encoded), "preview": preview}


def cap_json(value: Any, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Return ``value`` ready for a JSON column, replaced by a marker if too large.

    The marker is ``{"truncated": true, "size_bytes": N, "preview": "..."}``,
    where N is the size of the compact UTF-8 JSON encoding and ``preview`` is
    its first :data:`PREVIEW_BYTES` bytes. A value with NaN or an infinite
    float is stored as ``{"invalid_json": true, "error": ..., "preview": ...}``
    so that the rest of the record is still saved.
    """
    if value is None:
        return None

    try:
        text, converted = encode_json(value)
    except ValueError as exc:
        preview = repr(value)[:PREVIEW_BYTES]
        return {"invalid_json": True, "error": str(exc), "preview": preview}

    encoded = text.encode("utf-8")
    if len(encoded) > max_bytes:
        return truncation_marker(encoded)
    if converted:
        return json.loads(text)
    return value


def cap_text(text: str | None, max_chars: int = MAX_ERROR_CHARS) -> str | None:
    """Return ``text``, cut to ``max_chars`` characters with a note if longer.

    A cut text ends with ``... [truncated: N characters in total]``.
    """
    if text is None or len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}... [truncated: {len(text)} characters in total]"
