"""Functions the gateway can run, and the registry that finds them by name."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from walle_ray.gateway.contract import (
    Context,
    Event,
    FunctionResponse,
    to_function_response,
)

Handler = Callable[[Event, Context], object]
BUILTIN_SOURCE = "builtin"


@dataclass(frozen=True, slots=True)
class LocalFunction:
    """A function the gateway can run: its name, handler and where it came from.

    ``source`` is ``builtin`` or the path of the handler folder. ``labels`` are
    listed by ``GET /system/functions``.
    """

    name: str
    handler: Handler
    source: str = BUILTIN_SOURCE
    labels: Mapping[str, str] = field(default_factory=dict)
    is_async: bool = field(init=False)

    def __post_init__(self) -> None:
        is_async = inspect.iscoroutinefunction(self.handler)
        object.__setattr__(self, "is_async", is_async)

    @property
    def is_builtin(self) -> bool:
        """Whether the function is one of the gateway's built-ins."""
        return self.source == BUILTIN_SOURCE

    async def invoke(
        self, event: Event, context: Context, executor: Executor
    ) -> FunctionResponse:
        """Run the handler and convert its return value into a response.

        An ``async def`` handler is awaited on the event loop. A sync handler
        runs in ``executor`` so that a slow one does not block the loop.
        Exceptions raised by the handler propagate to the caller.
        """
        if self.is_async:
            result = self.handler(event, context)
        else:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(executor, self.handler, event, context)
        if inspect.isawaitable(result):
            result = await result
        return to_function_response(result)


class FunctionRegistry:
    """Functions by name: the built-ins plus handlers loaded from folders."""

    def __init__(self, functions: Sequence[LocalFunction] = ()) -> None:
        self._functions: dict[str, LocalFunction] = {}
        for function in functions:
            self.add(function)

    def add(self, function: LocalFunction) -> None:
        """Register ``function``, replacing any function with the same name."""
        self._functions[function.name] = function

    def names(self) -> list[str]:
        """Return the function names in alphabetical order."""
        return sorted(self._functions)

    def get(self, name: str) -> LocalFunction | None:
        """Return the function called ``name``, or None if there is none."""
        return self._functions.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._functions

    def __len__(self) -> int:
        return len(self._functions)
