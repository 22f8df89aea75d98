"""Running the gateway: ``serve`` for the CLI, ``LocalGateway`` for tests and scripts.

The gateway runs handler code without authentication, so it listens on
loopback addresses only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from aiohttp import web

from walle_ray.gateway.functions import FunctionRegistry
from walle_ray.gateway.loader import load_registry
from walle_ray.gateway.network import check_loopback_host
from walle_ray.gateway.server import create_app

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
LISTEN_BACKLOG = 1024
SHUTDOWN_TIMEOUT_SECONDS = 5.0
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = SHUTDOWN_TIMEOUT_SECONDS + 10.0


async def start_site(
    app: web.Application, host: str, port: int
) -> tuple[web.AppRunner, str]:
    """Start serving ``app`` on ``host:port`` and return the runner and base URL.

    Port 0 lets the OS choose a free port, which the URL then contains.
    """
    check_loopback_host(host)
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, backlog=LISTEN_BACKLOG)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    url_host = f"[{host}]" if ":" in host else host
    return runner, f"http://{url_host}:{bound_port}"


async def serve(
    functions_dirs: Sequence[Path | str],
    host: str = DEFAULT_HOST,
    port: int = 8080,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the built-ins and the folders in ``functions_dirs`` until cancelled.

    ``on_ready`` is called with the base URL once the server listens. Raises
    ``FunctionLoadError`` if a handler folder cannot be loaded, and
    ``ValueError`` if ``host`` is not a loopback address.
    """
    check_loopback_host(host)
    registry = load_registry(functions_dirs)
    runner, url = await start_site(create_app(registry), host, port)
    if on_ready is not None:
        on_ready(url)
    logger.info(
        "gateway listening on %s with %d functions: %s",
        url,
        len(registry),
        ", ".join(registry.names()),
    )
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        logger.info("gateway on %s stopped", url)


@dataclass(slots=True)
class _Startup:
    """Outcome of starting the server thread, handed back to ``start()``."""

    ready: threading.Event = field(default_factory=threading.Event)
    url: str | None = None
    error: BaseException | None = None
    loop: asyncio.AbstractEventLoop | None = None
    stop_requested: asyncio.Event | None = None


class LocalGateway:
    """The gateway running in a daemon thread with its own event loop.

    ``start()`` loads the functions, blocks until the server listens and
    returns its base URL. ``stop()`` closes the server and joins the thread.
    The gateway can be started again after it is stopped. As a context
    manager, it starts on enter and stops on exit.
    """

    def __init__(
        self,
        functions_dirs: Sequence[Path | str] = (),
        host: str = DEFAULT_HOST,
        port: int = 0,
    ) -> None:
        check_loopback_host(host)
        self._functions_dirs = tuple(functions_dirs)
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._startup: _Startup | None = None

    @property
    def url(self) -> str:
        """Base URL of the running gateway, such as ``http://127.0.0.1:43121``."""
        startup = self._startup
        if startup is None or startup.url is None:
            raise RuntimeError("the local gateway is not running; call start() first")
        return startup.url

    def start(self) -> str:
        """Start the gateway and return its base URL once it is listening.

        Raises ``FunctionLoadError`` if a handler folder cannot be loaded,
        ``OSError`` if the port cannot be bound, and ``RuntimeError`` if the
        gateway is already running.
        """
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(
                    f"the local gateway is already running at {self.url}; "
                    "call stop() before starting it again"
                )
            registry = load_registry(self._functions_dirs)
            startup = _Startup()
            thread = threading.Thread(
                target=self._run,
                args=(registry, startup),
                name="walle-gateway",
                daemon=True,
            )
            thread.start()
            if not startup.ready.wait(START_TIMEOUT_SECONDS):
                # NOTE: the thread keeps running and may still start listening.
                raise TimeoutError(
                    f"the local gateway did not start within {START_TIMEOUT_SECONDS} s"
                )
            if startup.error is not None:
                thread.join()
                raise startup.error
            self._thread = thread
            self._startup = startup
            logger.info("local gateway listening on %s", startup.url)
            return self.url

    def stop(self) -> None:
        """Stop the gateway and join its thread; does nothing if it is not running."""
        with self._lock:
            thread, startup = self._thread, self._startup
            self._thread = None
            self._startup = None
            if thread is None or startup is None:
                return
            loop, stop_requested = startup.loop, startup.stop_requested
            if loop is not None and stop_requested is not None:
                # RuntimeError means the loop has closed and the thread is ending.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(stop_requested.set)
            thread.join(STOP_TIMEOUT_SECONDS)
            if thread.is_alive():
                logger.warning(
                    "local gateway on %s did not stop within %s s",
                    startup.url,
                    STOP_TIMEOUT_SECONDS,
                )
            else:
                logger.info("local gateway on %s stopped", startup.url)

    def __enter__(self) -> LocalGateway:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self, registry: FunctionRegistry, startup: _Startup) -> None:
        try:
            asyncio.run(self._serve_until_stopped(registry, startup))
        except BaseException as exc:
            if not startup.ready.is_set():
                startup.error = exc
                startup.ready.set()
            else:
                logger.exception("local gateway on %s crashed", startup.url)

    async def _serve_until_stopped(
        self, registry: FunctionRegistry, startup: _Startup
    ) -> None:
        stop_requested = asyncio.Event()
        runner, url = await start_site(create_app(registry), self._host, self._port)
        try:
            startup.loop = asyncio.get_running_loop()
            startup.stop_requested = stop_requested
            startup.url = url
            startup.ready.set()
            await stop_requested.wait()
        finally:
            await runner.cleanup()
