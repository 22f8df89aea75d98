"""Exceptions raised by the engine.

``WalleError`` is the root. ``SpecError`` is also a ``ValueError`` so callers
that only know the standard library can still catch it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class WalleError(Exception):
    """Base class of every error the engine raises on purpose."""


@dataclass(frozen=True, slots=True)
class SpecIssue:
    """One problem found in a workflow spec, located as precisely as known."""

    message: str
    workflow: str | None = None
    task: str | None = None
    field: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = []
        if self.workflow is not None:
            where.append(f"workflow '{self.workflow}'")
        if self.task is not None:
            where.append(f"task '{self.task}'")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        location = ", ".join(where)
        if self.line is not None:
            location = (
                f"{location} (line {self.line})" if location else (f"line {self.line}")
            )
        return f"{location}: {self.message}" if location else self.message


class SpecError(WalleError, ValueError):
    """A workflow spec is invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[SpecIssue], source: str | None = None):
        self.issues = list(issues)
        self.source = source
        header = (
            f"invalid workflow spec {source}" if source else "invalid workflow spec"
        )
        lines = [f"{header}:"] + [f"  - {issue}" for issue in self.issues]
        super().__init__("\n".join(lines))


class ExecutionError(WalleError):
    """An execution could not be started or run to its end."""
