"""The Walle HTTP API as a Ray Serve application.

Import path for Serve and KubeRay: ``serve_app.app:app``, a bound application
configured from the environment (see ``walle_ray.service.config``). Every
route is a thin wrapper over ``walle_ray.service.WorkflowService``; executions
run in the orchestrator actor, not in the request.
"""

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from ray import serve
from ray.serve.deployment import Application
from starlette.exceptions import HTTPException as StarletteHTTPException
from swagger_ui_bundle import swagger_ui_path

from walle_ray.service import (
    MAX_PAGE_SIZE,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceConfig,
    ServiceError,
    WorkflowService,
    bodies,
    execution_path,
    validate_spec,
)

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DOCS_ASSETS = "/docs/assets"
MAX_ONGOING_REQUESTS = 1000
# The largest offset that SQLite and PostgreSQL accept, a signed 64-bit integer.
MAX_OFFSET = 2**63 - 1

YAML_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"spec": {"type": "string"}},
                    "required": ["spec"],
                }
            },
        },
    }
}
EXECUTION_BODY = {
    "requestBody": {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "input": {"description": "Execution input, any JSON."},
                        "mode": {"type": "string", "enum": ["sync", "batch", "full"]},
                    },
                }
            }
        }
    }
}
TRIGGER_BODY = {
    "requestBody": {
        "content": {
            "application/json": {"schema": {"description": "Execution input."}},
            "text/plain": {"schema": {"type": "string"}},
        }
    }
}

api = FastAPI(
    title="Walle on Ray",
    description="Workflows of HTTP functions, run on Ray. See docs/api.md.",
    version="0.1.0",
    docs_url=None,
    redoc_url=None,
)
# Swagger UI 4 from the swagger-ui-bundle package reads OpenAPI 3.0 documents.
api.openapi_version = "3.0.3"
api.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")


@api.exception_handler(ServiceError)
async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    if exc.status >= 500:
        logger.warning("%s %s failed: %s", request.method, request.url.path, exc)
    return JSONResponse(exc.to_dict(), status_code=exc.status)


@api.exception_handler(RequestValidationError)
async def _validation_error(
    request: Request, exc: RequestValidationError
) -> JSONResponse:
    """Report invalid path or query parameters in the API's error format."""
    problems = []
    fields = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        name = location[-1] if location else "request"
        where = location[0] if len(location) > 1 else "parameter"
        fields.append(name)
        problems.append(
            f"invalid {where} parameter {name}={error.get('input')!r}: "
            f"{error.get('msg', 'invalid value')}"
        )
    return JSONResponse(
        {"error": "; ".join(problems), "fields": fields}, status_code=422
    )


@api.exception_handler(StarletteHTTPException)
async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Report routing errors, such as 405, as ``{"error": ...}`` like the rest."""
    message = f"{exc.detail}: {request.method} {request.url.path}"
    allowed = (exc.headers or {}).get("Allow")
    if allowed:
        message += f"; allowed methods: {allowed}"
    return JSONResponse(
        {"error": message}, status_code=exc.status_code, headers=exc.headers
    )


@api.exception_handler(Exception)
async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Return a JSON 500 without a traceback; the traceback goes to the log."""
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {
            "error": f"internal error while handling {request.method} "
            f"{request.url.path}; the server log has the details"
        },
        status_code=500,
    )


async def read_body(request: Request, limit: int) -> bytes:
    """Read the request body, raising 413 once it is over ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(_too_large(limit), max_bytes=limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLargeError(_too_large(limit), max_bytes=limit)
    return bytes(body)


def _too_large(limit: int) -> str:
    return (
        f"request body over the maximum of {limit} bytes; send less, or raise "
        "WALLE_MAX_BODY_BYTES on the server"
    )


def _last_event_id(request: Request) -> int | None:
    text = request.headers.get("last-event-id")
    if text is None or not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidRequestError(
            f"invalid Last-Event-ID {text!r}: use an event id from the stream"
        ) from None


def _saved(workflow: dict[str, Any], created: bool) -> JSONResponse:
    return JSONResponse(
        workflow,
        status_code=201 if created else 200,
        headers={"Location": f"/api/workflows/{workflow['name']}"},
    )


def static_file(path: str) -> Path:
    """Resolve a dashboard path to a file in ``STATIC_DIR``.

    Paths without a file fall back to ``index.html``, so client-side routes
    work. Raises ``NotFoundError`` when the path leaves the folder, contains
    a NUL byte, or no dashboard is installed.
    """
    if "\0" in path:
        raise NotFoundError("invalid path: a path cannot contain a NUL byte (%00)")
    root = STATIC_DIR.resolve()
    candidate = (root / path).resolve() if path else root
    if not candidate.is_relative_to(root):
        raise NotFoundError(f"not found: /{path}")
    if candidate.is_file():
        return candidate
    if path.startswith("api/"):
        raise NotFoundError(f"no API endpoint at /{path}; see /docs")
    index = root / "index.html"
    if index.is_file():
        return index
    raise NotFoundError(
        f"not found: /{path}; the API is under /api and its documentation at /docs"
    )


@serve.deployment(
    name="walle-api",
    ray_actor_options={"num_cpus": 0},
    max_ongoing_requests=MAX_ONGOING_REQUESTS,
)
@serve.ingress(api)
class WalleApi:
    """The ingress deployment: HTTP in, ``WorkflowService`` calls out."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = (
            ServiceConfig.from_dict(config)
            if config is not None
            else ServiceConfig.from_env()
        )
        self.service = WorkflowService(self.config)
        # Creating the orchestrator now lets it resume unfinished executions
        # before the first request arrives.
        self.service.orchestrator()

    async def _body(self, request: Request) -> bytes:
        return await read_body(request, self.config.max_body_bytes)

    # -- service -------------------------------------------------------------

    @api.get("/api/health", tags=["service"])
    async def health(self) -> dict[str, Any]:
        """Report the orchestrator's state once it is ready."""
        return {"status": "ok", "orchestrator": await self.service.ping()}

    @api.get("/docs", include_in_schema=False)
    async def docs(self, request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title="Walle on Ray API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
            # Without a validator URL, Swagger UI contacts no online validator.
            swagger_ui_parameters={"validatorUrl": None},
        )

    # -- workflows -----------------------------------------------------------

    @api.post("/api/workflows", tags=["workflows"], openapi_extra=YAML_BODY)
    async def create_workflow(self, request: Request) -> JSONResponse:
        """Create a workflow, or add a version to it, from its YAML spec."""
        text = bodies.spec_text(
            await self._body(request), request.headers.get("content-type")
        )
        workflow, created = await self.service.save_workflow(text)
        return _saved(workflow, created)

    @api.put("/api/workflows/{name}", tags=["workflows"], openapi_extra=YAML_BODY)
    async def put_workflow(self, name: str, request: Request) -> JSONResponse:
        """Create or update workflow ``name``; the spec must carry the same name."""
        text = bodies.spec_text(
            await self._body(request), request.headers.get("content-type")
        )
        workflow, created = await self.service.save_workflow(text, name)
        return _saved(workflow, created)

    @api.post("/api/validate", tags=["workflows"], openapi_extra=YAML_BODY)
    async def validate_workflow(self, request: Request) -> dict[str, Any]:
        """Validate a spec without storing it; return its tasks and DAG levels."""
        text = bodies.spec_text(
            await self._body(request), request.headers.get("content-type")
        )
        return validate_spec(text)

    @api.get("/api/workflows", tags=["workflows"])
    async def list_workflows(self) -> dict[str, Any]:
        return {"items": await self.service.list_workflows()}

    @api.get("/api/workflows/{name}", tags=["workflows"])
    async def get_workflow(self, name: str) -> dict[str, Any]:
        return await self.service.get_workflow(name)

    @api.delete("/api/workflows/{name}", status_code=204, tags=["workflows"])
    async def delete_workflow(self, name: str) -> Response:
        """Delete a workflow; its versions and executions stay readable."""
        await self.service.delete_workflow(name)
        return Response(status_code=204)

    @api.get("/api/workflows/{name}/versions", tags=["workflows"])
    async def workflow_versions(self, name: str) -> dict[str, Any]:
        return {"items": await self.service.workflow_versions(name)}

    # -- executions ----------------------------------------------------------

    @api.post(
        "/api/workflows/{name}/executions",
        tags=["executions"],
        openapi_extra=EXECUTION_BODY,
    )
    async def start_execution(self, name: str, request: Request) -> JSONResponse:
        """Start an execution; it runs in the background (201 with Location)."""
        parsed = bodies.execution_request(await self._body(request))
        started = await self.service.start_execution(
            name,
            mode=parsed.mode,
            input=parsed.input,
            idempotency_key=bodies.check_idempotency_key(
                request.headers.get("idempotency-key")
            ),
        )
        return JSONResponse(
            started.execution,
            status_code=201 if started.created else 200,
            headers={"Location": execution_path(started.execution_id)},
        )

    @api.get("/api/workflows/{name}/executions", tags=["executions"])
    async def list_executions(
        self,
        name: str,
        status: str | None = None,
        limit: int = Query(50, ge=1, le=MAX_PAGE_SIZE),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
    ) -> dict[str, Any]:
        """List a workflow's executions, newest first."""
        return await self.service.list_executions(
            name, status=status, limit=limit, offset=offset
        )

    @api.get("/api/executions/{execution_id}", tags=["executions"])
    async def get_execution(self, execution_id: str) -> dict[str, Any]:
        """Return an execution with its tasks and their attempts."""
        return await self.service.get_execution(execution_id)

    @api.post("/api/executions/{execution_id}/cancel", tags=["executions"])
    async def cancel_execution(self, execution_id: str) -> JSONResponse:
        """Cancel a running execution: 200 once it ended, 202 while it stops."""
        execution, ended = await self.service.cancel_execution(execution_id)
        return JSONResponse(execution, status_code=200 if ended else 202)

    @api.post("/api/executions/{execution_id}/retry", tags=["executions"])
    async def retry_execution(self, execution_id: str) -> JSONResponse:
        """Start a new execution that reruns only what did not succeed."""
        started = await self.service.retry_execution(execution_id)
        return JSONResponse(
            {**started.execution, "retry_of": execution_id},
            status_code=201,
            headers={"Location": execution_path(started.execution_id)},
        )

    @api.get("/api/executions/{execution_id}/events", tags=["executions"])
    async def execution_events(
        self, execution_id: str, request: Request
    ) -> StreamingResponse:
        """Stream the execution's events (server-sent events) until it ends."""
        stream = await self.service.event_stream(execution_id, _last_event_id(request))
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # -- triggers ------------------------------------------------------------

    @api.post(
        "/api/triggers/{workflow}/{trigger}",
        tags=["triggers"],
        openapi_extra=TRIGGER_BODY,
    )
    async def fire_trigger(
        self,
        workflow: str,
        trigger: str,
        request: Request,
        mode: str | None = None,
    ) -> JSONResponse:
        """Start an execution with the body as input.

        An ``async`` trigger returns 202 at once. Otherwise the request waits
        for the execution to end (200), or returns 202 after the configured
        wait while the execution goes on.
        """
        execution_input = bodies.trigger_input(
            await self._body(request), request.headers.get("content-type")
        )
        started, ended = await self.service.fire_trigger(
            workflow,
            trigger,
            input=execution_input,
            mode=bodies.check_mode(mode),
            idempotency_key=bodies.check_idempotency_key(
                request.headers.get("idempotency-key")
            ),
        )
        return JSONResponse(
            started.execution,
            status_code=200 if ended else 202,
            headers={"Location": execution_path(started.execution_id)},
        )

    # -- dashboard -----------------------------------------------------------

    @api.get("/{path:path}", include_in_schema=False)
    async def dashboard(self, path: str) -> FileResponse:
        """Serve the dashboard's static files from ``serve_app/static``."""
        return FileResponse(static_file(path))


def build_app(config: ServiceConfig | None = None) -> Application:
    """Bind the deployment to ``config``, or to the environment's settings."""
    settings = config if config is not None else ServiceConfig.from_env()
    return WalleApi.bind(settings.to_dict())  # type: ignore[attr-defined]


app = build_app()
