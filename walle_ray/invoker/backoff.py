"""Delays between attempts: exponential backoff, jitter and ``Retry-After``."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from walle_ray.spec import RetryPolicy

# A server may ask for a long pause with Retry-After; longer requests than
# this are shortened so one task cannot stall an execution indefinitely.
MAX_RETRY_AFTER_S = 600.0


def retry_delay(
    policy: RetryPolicy,
    retry_number: int,
    *,
    retry_after: float | None = None,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Return the seconds to wait before retry number ``retry_number`` (1-based).

    ``exponential`` doubles ``initial`` for each retry, ``fixed`` always waits
    ``initial`` and ``none`` does not wait; the result is capped at
    ``max_delay``. With ``jitter`` the delay is drawn uniformly between half
    and all of it, so clients that failed together do not retry together. A
    ``retry_after`` sent by the server replaces the computed delay, up to
    ``MAX_RETRY_AFTER_S``.
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER_S)
    if policy.backoff == "none":
        return 0.0
    if policy.backoff == "fixed":
        delay = policy.initial
    else:
        delay = policy.initial * (2.0 ** (retry_number - 1))
    delay = min(delay, policy.max_delay)
    if policy.jitter and delay > 0:
        delay = uniform(delay / 2, delay)
    return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delay seconds or an HTTP date.

    Returns None when the header is absent or malformed.
    """
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)
