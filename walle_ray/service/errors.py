"""Errors of the workflow service, each with the HTTP status it maps to."""

from __future__ import annotations

from typing import Any

from walle_ray.errors import SpecError, WalleError


class ServiceError(WalleError):
    """A request failed for the reason in ``message``; ``status`` is its HTTP code."""

    status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message, **self.details}


class InvalidRequestError(ServiceError):
    """The body or a parameter is malformed, such as invalid JSON."""

    status = 400


class NotFoundError(ServiceError):
    """A workflow, trigger or execution does not exist."""

    status = 404


class ConflictError(ServiceError):
    """The request does not fit the current state, such as cancelling an ended run."""

    status = 409


class PayloadTooLargeError(ServiceError):
    """The request body is over the configured maximum."""

    status = 413


class UnsupportedMediaTypeError(ServiceError):
    """The request's content type is not one the endpoint reads."""

    status = 415


class UnprocessableError(ServiceError):
    """The body is well-formed but invalid, such as an invalid spec or mode."""

    status = 422


class UnavailableError(ServiceError):
    """The orchestrator cannot be reached, for example while Ray restarts it."""

    status = 503


def spec_error(exc: SpecError) -> UnprocessableError:
    """Turn a spec's ``SpecError`` into a 422 error listing every issue."""
    issues = [
        {
            "message": issue.message,
            "workflow": issue.workflow,
            "task": issue.task,
            "field": issue.field,
            "line": issue.line,
        }
        for issue in exc.issues
    ]
    return UnprocessableError(str(exc), issues=issues)
