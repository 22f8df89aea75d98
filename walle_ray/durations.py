"""Parsing of durations such as ``500ms``, ``10s``, ``2m`` or ``1m30s``."""

from __future__ import annotations

import re

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h))+")

DURATION_HINT = "use a number of seconds or a duration such as 500ms, 10s, 2m or 1m30s"


def parse_duration(value: object) -> float:
    """Convert a duration to seconds.

    Accepts a non-negative int or float (seconds) or a string made of
    number-unit parts with units ``ms``, ``s``, ``m`` and ``h``. Raises
    ``ValueError`` naming the value otherwise.
    """
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: {DURATION_HINT}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        if _WHOLE.fullmatch(text):
            seconds = sum(
                float(number) * _UNIT_SECONDS[unit]
                for number, unit in _PART.findall(text)
            )
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(
                    f"invalid duration {value!r}: {DURATION_HINT}"
                ) from None
    else:
        raise ValueError(f"invalid duration {value!r}: {DURATION_HINT}")
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        raise ValueError(f"invalid duration {value!r}: it must be finite and >= 0")
    return seconds


def format_duration(seconds: float) -> str:
    """Render seconds compactly for people: ``850ms``, ``12.3s``, ``2m05s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{int(minutes)}m{rest:04.1f}s"
    hours, minutes = divmod(minutes, 60)
    return f"{int(hours)}h{int(minutes):02d}m"
