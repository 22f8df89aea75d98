"""Settings of the workflow service, read from the environment or passed in.

The same ``ServiceConfig`` reaches the Serve replicas and the orchestrator
actor as a plain dict, so every field is a string, number or tuple.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from walle_ray.spec import check_http_url

ORCHESTRATOR_NAME = "walle-orchestrator"
ORCHESTRATOR_NAMESPACE = "walle"
INVOKER_PREFIX = "walle-invoker"

DEFAULT_SYNC_TRIGGER_WAIT_S = 30.0
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_CONCURRENT_EXECUTIONS = 256

ENV_DATABASE_URL = "WALLE_DATABASE_URL"
ENV_GATEWAY = "OPENFAAS_GATEWAY"
ENV_FUNCTIONS = "WALLE_FUNCTIONS_DIRS"
ENV_INVOKERS = "WALLE_INVOKERS"
ENV_SYNC_TRIGGER_WAIT = "WALLE_SYNC_TRIGGER_WAIT"
ENV_MAX_BODY_BYTES = "WALLE_MAX_BODY_BYTES"
ENV_MAX_CONCURRENT_EXECUTIONS = "WALLE_MAX_CONCURRENT_EXECUTIONS"


class ConfigError(ValueError):
    """A service setting is invalid; the message names the setting."""


def default_functions_dirs() -> tuple[str, ...]:
    """Return ``examples/functions`` of the working folder or the source tree.

    Returns an empty tuple when neither exists; the local gateway then serves
    only its built-in functions.
    """
    candidates = [
        Path.cwd() / "examples" / "functions",
        Path(__file__).resolve().parents[2] / "examples" / "functions",
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return (str(candidate),)
    return ()


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Settings shared by the HTTP layer and the orchestrator actor.

    ``database_url`` None means the store's default (``WALLE_DATABASE_URL`` or
    a SQLite file in the user's data folder). ``gateway_url`` None means the
    orchestrator starts a local gateway on 127.0.0.1 serving
    ``functions_dirs``.
    """

    database_url: str | None = None
    gateway_url: str | None = None
    functions_dirs: tuple[str, ...] = field(default_factory=default_functions_dirs)
    invokers: int | None = None
    sync_trigger_wait_s: float = DEFAULT_SYNC_TRIGGER_WAIT_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_concurrent_executions: int = DEFAULT_MAX_CONCURRENT_EXECUTIONS
    orchestrator_name: str = ORCHESTRATOR_NAME
    namespace: str = ORCHESTRATOR_NAMESPACE
    invoker_prefix: str = INVOKER_PREFIX

    def __post_init__(self) -> None:
        if self.gateway_url:
            try:
                check_http_url(self.gateway_url)
            except ValueError as exc:
                raise ConfigError(f"invalid gateway URL: {exc}") from None
        if self.invokers is not None and self.invokers < 1:
            raise ConfigError(
                f"invalid number of invokers {self.invokers}: use 1 or more"
            )
        if self.sync_trigger_wait_s < 0:
            raise ConfigError(
                f"invalid sync trigger wait {self.sync_trigger_wait_s}: "
                "use 0 or more seconds"
            )
        if self.max_body_bytes < 1:
            raise ConfigError(
                f"invalid maximum body size {self.max_body_bytes}: use 1 or more bytes"
            )
        if self.max_concurrent_executions < 1:
            raise ConfigError(
                "invalid maximum of concurrent executions "
                f"{self.max_concurrent_executions}: use 1 or more"
            )

    @classmethod
    def from_env(cls, **overrides: Any) -> ServiceConfig:
        """Read the settings from ``WALLE_*`` and ``OPENFAAS_GATEWAY``.

        Keyword arguments that are not None take precedence over the
        environment. Raises ``ConfigError`` naming the invalid variable.
        """
        values: dict[str, Any] = {
            "database_url": os.environ.get(ENV_DATABASE_URL) or None,
            "gateway_url": os.environ.get(ENV_GATEWAY) or None,
        }
        functions = os.environ.get(ENV_FUNCTIONS)
        if functions:
            values["functions_dirs"] = tuple(
                str(Path(p).expanduser().resolve())
                for p in functions.split(os.pathsep)
                if p
            )
        values["invokers"] = _env_number(ENV_INVOKERS, int)
        values["sync_trigger_wait_s"] = _env_number(ENV_SYNC_TRIGGER_WAIT, float)
        values["max_body_bytes"] = _env_number(ENV_MAX_BODY_BYTES, int)
        values["max_concurrent_executions"] = _env_number(
            ENV_MAX_CONCURRENT_EXECUTIONS, int
        )
        values.update(overrides)
        return cls(**{k: v for k, v in values.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "functions_dirs" in values:
            values["functions_dirs"] = tuple(values["functions_dirs"])
        return cls(**values)


def _env_number(name: str, kind: type[int] | type[float]) -> Any:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return None
    try:
        return kind(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ConfigError(f"invalid {name}={text!r}: use {noun}") from None
