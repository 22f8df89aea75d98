"""The workflow service: HTTP-facing operations and the orchestrator actor.

``serve_app.app`` exposes ``WorkflowService`` over HTTP with Ray Serve;
``Orchestrator`` runs the executions in a detached actor.
"""

from walle_ray.service import bodies
from walle_ray.service.config import ConfigError, ServiceConfig
from walle_ray.service.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceError,
    UnavailableError,
    UnprocessableError,
    UnsupportedMediaTypeError,
)
from walle_ray.service.orchestrator import Orchestrator, get_orchestrator
from walle_ray.service.service import (
    MAX_PAGE_SIZE,
    Started,
    WorkflowService,
    execution_path,
    trigger_path,
    validate_spec,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "ConfigError",
    "ConflictError",
    "InvalidRequestError",
    "NotFoundError",
    "Orchestrator",
    "PayloadTooLargeError",
    "ServiceConfig",
    "ServiceError",
    "Started",
    "UnavailableError",
    "UnprocessableError",
    "UnsupportedMediaTypeError",
    "WorkflowService",
    "bodies",
    "execution_path",
    "get_orchestrator",
    "trigger_path",
    "validate_spec",
]
