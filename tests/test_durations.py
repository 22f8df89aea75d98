"""Duration parsing."""

from __future__ import annotations

import pytest

from walle_ray.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("500ms", 0.5),
        ("10s", 10.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1m30s", 90.0),
        ("1.5s", 1.5),
        ("2", 2.0),
        (3, 3.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["5x", "", "ms", "-1s", -1, True, None, [1], "nan"])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_format_duration() -> None:
    assert format_duration(0.85) == "850ms"
    assert format_duration(12.345) == "12.35s"
    assert format_duration(125) == "2m05.0s"
