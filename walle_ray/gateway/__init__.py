"""Local function gateway: an OpenFaaS-compatible HTTP API for running workflows.

It serves built-in test functions (``echo``, ``sleep``, ``fail``, ``flaky``)
and Python handlers written like OpenFaaS's ``python3-http`` template, one
folder per function with ``handler.py`` defining ``handle(event, context)``.
"""

from walle_ray.gateway.builtins import InvalidInputError, builtin_functions
from walle_ray.gateway.contract import (
    Context,
    Event,
    FunctionResponse,
    InvalidResponseError,
    to_function_response,
)
from walle_ray.gateway.functions import FunctionRegistry, Handler, LocalFunction
from walle_ray.gateway.loader import (
    FunctionLoadError,
    load_handler_folder,
    load_registry,
)
from walle_ray.gateway.network import check_loopback_host, is_loopback_host
from walle_ray.gateway.runner import LocalGateway, serve
from walle_ray.gateway.server import MAX_REQUEST_BYTES, create_app, parse_callback_url

__all__ = [
    "MAX_REQUEST_BYTES",
    "Context",
    "Event",
    "FunctionLoadError",
    "FunctionRegistry",
    "FunctionResponse",
    "Handler",
    "InvalidInputError",
    "InvalidResponseError",
    "LocalFunction",
    "LocalGateway",
    "builtin_functions",
    "check_loopback_host",
    "create_app",
    "is_loopback_host",
    "load_handler_folder",
    "load_registry",
    "parse_callback_url",
    "serve",
    "to_function_response",
]
