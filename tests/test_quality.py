"""Formatting, lint and type checks of the code base, as part of the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [("ruff", "format", "--check", "."), ("ruff", "check", "."), ("mypy",)],
    ids=["ruff-format", "ruff-check", "mypy"],
)
def test_code_quality(command: tuple[str, ...]) -> None:
    completed = run_tool(*command)
    assert completed.returncode == 0, completed.stdout + completed.stderr
