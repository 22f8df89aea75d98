"""Run the benchmarks inside a RayJob and print their result files to its log.

``python -m walle_ray.kube.benchjob [ARGS]`` runs ``python -m benchmarks
ARGS`` in the application folder, then prints every result file that the
run created or changed between marker lines, base64-encoded with its
SHA-256. ``walle kube bench`` reads the RayJob's log and writes the files
back with ``extract_results``, so no shared volume is needed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

APP_DIR_ENV = "WALLE_APP_DIR"
RESULTS_DIR = Path("benchmarks") / "results"
BEGIN = "==> walle-bench-result"
END = "<== walle-bench-result"
_BEGIN_LINE = re.compile(
    rf"^{re.escape(BEGIN)} (?P<name>\S+) sha256=(?P<digest>[0-9a-f]{{64}})$"
)


class ResultFormatError(ValueError):
    """A result block in the log is cut off or does not match its checksum."""


def _snapshot(folder: Path) -> dict[Path, tuple[int, int]]:
    if not folder.is_dir():
        return {}
    return {
        path: (path.stat().st_mtime_ns, path.stat().st_size)
        for path in folder.rglob("*")
        if path.is_file()
    }


def format_result(name: str, data: bytes) -> str:
    """Format one result file as a marker-delimited base64 block."""
    digest = hashlib.sha256(data).hexdigest()
    encoded = base64.b64encode(data).decode("ascii")
    body = "\n".join(textwrap.wrap(encoded, 76)) if encoded else ""
    lines = [f"{BEGIN} {name} sha256={digest}"]
    if body:
        lines.append(body)
    lines.append(f"{END} {name}")
    return "\n".join(lines) + "\n"


def extract_results(log: str) -> dict[str, bytes]:
    """Decode every result block in ``log``; raise ``ResultFormatError`` on a bad one.

    Names are relative POSIX paths; a name that would leave the results
    folder (absolute, or with ``..``) is rejected.
    """
    results: dict[str, bytes] = {}
    current: tuple[str, str] | None = None
    chunks: list[str] = []
    for raw in log.splitlines():
        line = raw.strip()
        match = _BEGIN_LINE.match(line)
        if match is not None:
            current = (match["name"], match["digest"])
            chunks = []
            continue
        if current is None:
            continue
        if line == f"{END} {current[0]}":
            name, digest = current
            try:
                data = base64.b64decode("".join(chunks), validate=True)
            except binascii.Error:
                raise ResultFormatError(
                    f"result {name!r} is not valid base64"
                ) from None
            if hashlib.sha256(data).hexdigest() != digest:
                raise ResultFormatError(f"result {name!r} does not match its SHA-256")
            _check_relative(name)
            results[name] = data
            current = None
        else:
            chunks.append(line)
    if current is not None:
        raise ResultFormatError(f"result {current[0]!r} is cut off in the log")
    return results


def _check_relative(name: str) -> None:
    path = Path(name)
    if path.is_absolute() or ".." in path.parts:
        raise ResultFormatError(f"invalid result name {name!r}: not a relative path")


def run(args: Sequence[str], app_dir: Path) -> int:
    """Run the benchmarks in ``app_dir``, print new results, return the exit status."""
    results = app_dir / RESULTS_DIR
    before = _snapshot(results)
    # The job's RAY_ADDRESS passes through, so the benchmarks join the job's
    # cluster. Their invokers stay on the head node, where the loopback
    # gateway runs (see benchmarks.suite.driver_node_pool).
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=app_dir,
        check=False,
    )
    after = _snapshot(results)
    changed = sorted(path for path, stamp in after.items() if before.get(path) != stamp)
    sys.stdout.flush()
    for path in changed:
        name = path.relative_to(results).as_posix()
        sys.stdout.write(format_result(name, path.read_bytes()))
    sys.stdout.write(f"walle-bench: {len(changed)} result files\n")
    sys.stdout.flush()
    return completed.returncode


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    app_dir = Path(os.environ.get(APP_DIR_ENV) or Path.cwd())
    return run(args, app_dir)


if __name__ == "__main__":
    sys.exit(main())
