"""Retry delays: backoff shapes, jitter bounds and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from walle_ray.invoker.backoff import MAX_RETRY_AFTER_S, parse_retry_after, retry_delay
from walle_ray.spec import RetryPolicy


def test_exponential_doubles_until_cap() -> None:
    policy = RetryPolicy(max=10, initial=0.5, max_delay=3.0, jitter=False)
    delays = [retry_delay(policy, n) for n in range(1, 6)]
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_fixed_and_none() -> None:
    fixed = RetryPolicy(backoff="fixed", initial=0.7, jitter=False)
    assert retry_delay(fixed, 4) == 0.7
    assert retry_delay(RetryPolicy(backoff="none"), 3) == 0.0


def test_jitter_stays_between_half_and_full() -> None:
    policy = RetryPolicy(initial=1.0, max_delay=100.0, jitter=True)
    delays = [retry_delay(policy, 3) for _ in range(200)]
    assert min(delays) >= 2.0
    assert max(delays) <= 4.0
    assert len(set(delays)) > 1


def test_retry_after_replaces_backoff_and_is_capped() -> None:
    policy = RetryPolicy(initial=0.1)
    assert retry_delay(policy, 1, retry_after=5.0) == 5.0
    assert retry_delay(policy, 1, retry_after=1e9) == MAX_RETRY_AFTER_S


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (None, None), ("", None), ("soon", None), ("-3", None)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
