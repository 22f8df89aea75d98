"""Run the local function gateway in a process of its own.

``python -m benchmarks.gateway_process`` prints the gateway's URL on one
line and serves the built-in functions until its standard input closes.
Keeping the gateway out of the driver process means the engine under test
and the functions do not share one interpreter lock.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from types import TracebackType

from walle_ray.gateway import LocalGateway

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0


class GatewayProcess:
    """The gateway subprocess, started on enter and stopped on exit."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> str:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.gateway_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the gateway process did not start: output {line!r}")
        self.url = line
        logger.info("gateway process %d listening on %s", self.process.pid, line)
        return line

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("the gateway process is not running")
        return self.process.pid

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            logger.warning("gateway process %d did not stop; killing it", self.pid)
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> GatewayProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    with LocalGateway() as gateway:
        sys.stdout.write(gateway.url + "\n")
        sys.stdout.flush()
        # Serve until the parent closes our standard input (or exits).
        sys.stdin.read()


if __name__ == "__main__":
    main()
