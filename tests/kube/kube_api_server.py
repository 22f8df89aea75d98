"""A small HTTP server on 127.0.0.1 that responds like the Kubernetes API.

It keeps created objects in memory, so the ``walle kube`` commands can be
run end to end against it with a real ``kubernetes`` client: create (409
when the object exists), get, list, merge-patch, delete, pod logs, and
the ``ray.io/v1`` discovery document. ``ray_api`` switches discovery to
"missing" (404, no KubeRay) or "forbidden" (403). ``statuses`` sets the
``status`` of a stored object by (plural, name), or of every object of a
plural under the name ``"*"``. ``on_create`` plays a controller.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

_OBJECT_PATH = re.compile(
    r"^/(?:api/v1|apis/[^/]+/[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)"
    r"(?:/(?P<name>[^/]+))?(?:/(?P<sub>log))?$"
)
RAY_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "ray.io/v1",
    "resources": [
        {
            "name": plural,
            "singularName": plural[:-1],
            "namespaced": True,
            "kind": kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update"],
        }
        for plural, kind in (
            ("rayclusters", "RayCluster"),
            ("rayjobs", "RayJob"),
            ("rayservices", "RayService"),
        )
    ],
}


class KubeApiState:
    """Objects, statuses and recorded requests of one fake API server."""

    def __init__(self) -> None:
        self.ray_api = "ok"
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.statuses: dict[tuple[str, str], dict[str, Any]] = {}
        self.logs: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        # Called with (plural, object) after each create, under the lock, to
        # play a controller (e.g. start a RayJob's submitter pod).
        self.on_create: Callable[[KubeApiState, str, dict[str, Any]], None] | None = (
            None
        )

    def with_status(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        status = self.statuses.get((plural, name)) or self.statuses.get((plural, "*"))
        if status is None:
            return obj
        return {**obj, "status": status}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any, content_type: str = "") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str) -> None:
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
        self._send(code, body)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        parsed: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
        return parsed

    def _handle(self, method: str) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        with state.lock:
            state.requests.append((method, url.path))
        if url.path == "/apis/ray.io/v1":
            self._discovery(state)
            return
        match = _OBJECT_PATH.match(url.path)
        if match is None:
            self._status(404, "NotFound", f"the server could not find {url.path}")
            return
        if state.ray_api == "forbidden":
            self._status(403, "Forbidden", "user cannot access this resource")
            return
        plural, name, sub = match["plural"], match["name"], match["sub"]
        with state.lock:
            if name is None:
                self._collection(state, method, plural, parse_qs(url.query))
            elif sub == "log":
                self._send(200, state.logs.get(name, "").encode(), "text/plain")
            else:
                self._item(state, method, plural, name)

    def _discovery(self, state: KubeApiState) -> None:
        if state.ray_api == "missing":
            self._status(
                404, "NotFound", "the server could not find the requested resource"
            )
        elif state.ray_api == "forbidden":
            self._status(403, "Forbidden", 'cannot get path "/apis/ray.io/v1"')
        else:
            self._send(200, RAY_RESOURCES)

    def _collection(
        self, state: KubeApiState, method: str, plural: str, query: dict[str, Any]
    ) -> None:
        if method == "POST":
            body = self._body()
            key = (plural, body["metadata"]["name"])
            if key in state.objects:
                self._status(409, "AlreadyExists", f"{key[1]} already exists")
                return
            body["metadata"].setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            state.objects[key] = body
            if state.on_create is not None:
                state.on_create(state, plural, body)
            self._send(201, body)
            return
        selector = (query.get("labelSelector") or [""])[0]
        items = [
            state.with_status(plural, obj)
            for (kind, _), obj in state.objects.items()
            if kind == plural and _matches(obj, selector)
        ]
        self._send(
            200, {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": items}
        )

    def _item(self, state: KubeApiState, method: str, plural: str, name: str) -> None:
        key = (plural, name)
        obj = state.objects.get(key)
        if obj is None:
            self._status(404, "NotFound", f'{plural} "{name}" not found')
            return
        if method == "GET":
            self._send(200, state.with_status(plural, obj))
        elif method == "PATCH":
            patch = self._body()
            merged = {**obj, **patch}
            merged["metadata"] = {**obj["metadata"], **patch.get("metadata", {})}
            state.objects[key] = merged
            self._send(200, merged)
        elif method == "DELETE":
            # Like the API server, return the deleted object.
            self._send(200, state.objects.pop(key))

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


def _matches(obj: dict[str, Any], selector: str) -> bool:
    labels = obj["metadata"].get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: KubeApiState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@contextmanager
def kube_api_server() -> Iterator[tuple[str, KubeApiState]]:
    """Serve a fresh fake API on 127.0.0.1; yield its URL and state."""
    state = KubeApiState()
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def write_kubeconfig(path: Path, server_url: str) -> Path:
    """Write a kubeconfig with one context that points at ``server_url``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server_url}}],
        "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
        "contexts": [
            {
                "name": "local",
                "context": {"cluster": "local", "user": "tester"},
            }
        ],
        "current-context": "local",
    }
    path.write_text(json.dumps(config), encoding="utf-8")
    return path
