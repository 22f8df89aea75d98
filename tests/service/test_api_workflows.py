"""Workflow endpoints of the HTTP API, against the real Serve application."""

from __future__ import annotations

import re

import httpx
import pytest
from service_helpers import MAX_BODY_BYTES

pytestmark = pytest.mark.ray

SPEC = """\
name: {name}
description: two echo calls
triggers:
  - name: hook
    async: true
tasks:
  - name: first
    function: echo
  - name: second
    function: echo
    depends: [first]
"""

INVALID_TASK_SPEC = """\
name: broken
tasks:
  - name: a
    function: echo
  - name: b
    method: GET
"""


def yaml_headers() -> dict[str, str]:
    return {"content-type": "application/yaml"}


def test_workflow_lifecycle(client: httpx.Client) -> None:
    name = "lifecycle"
    created = client.put(
        f"/api/workflows/{name}",
        content=SPEC.format(name=name),
        headers=yaml_headers(),
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/api/workflows/{name}"
    body = created.json()
    assert body["version"] == 1
    assert body["tasks"] == ["first", "second"]
    assert body["triggers"] == [
        {
            "name": "hook",
            "type": "http",
            "async": True,
            "url": f"/api/triggers/{name}/hook",
        }
    ]

    unchanged = client.put(
        f"/api/workflows/{name}",
        content=SPEC.format(name=name),
        headers=yaml_headers(),
    )
    assert unchanged.status_code == 200
    assert unchanged.json()["version"] == 1

    changed_text = SPEC.format(name=name).replace("two echo", "2 echo")
    changed = client.put(
        f"/api/workflows/{name}", content=changed_text, headers=yaml_headers()
    )
    assert changed.status_code == 200
    assert changed.json()["version"] == 2

    fetched = client.get(f"/api/workflows/{name}")
    assert fetched.status_code == 200
    assert fetched.json()["spec"] == changed_text
    assert fetched.json()["description"] == "2 echo calls"

    listed = client.get("/api/workflows").json()["items"]
    assert name in [w["name"] for w in listed]

    versions = client.get(f"/api/workflows/{name}/versions")
    assert versions.status_code == 200
    assert [v["version"] for v in versions.json()["items"]] == [1, 2]
    assert versions.json()["items"][0]["spec"] == SPEC.format(name=name)

    deleted = client.delete(f"/api/workflows/{name}")
    assert deleted.status_code == 204
    assert client.get(f"/api/workflows/{name}").status_code == 404
    assert client.delete(f"/api/workflows/{name}").status_code == 404
    listed_after = client.get("/api/workflows").json()["items"]
    assert name not in [w["name"] for w in listed_after]
    # Versions stay readable after deletion.
    assert client.get(f"/api/workflows/{name}/versions").status_code == 200


@pytest.mark.parametrize(
    ("content_type", "wrap_json"),
    [("application/yaml", False), ("text/plain", False), ("application/json", True)],
)
def test_workflow_post_content_types(
    client: httpx.Client, content_type: str, wrap_json: bool
) -> None:
    name = "posted-" + content_type.split("/")[1]
    text = SPEC.format(name=name)
    if wrap_json:
        response = client.post("/api/workflows", json={"spec": text})
    else:
        response = client.post(
            "/api/workflows", content=text, headers={"content-type": content_type}
        )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name
    assert client.get(f"/api/workflows/{name}").json()["spec"] == text


def test_invalid_spec_lists_issues(client: httpx.Client) -> None:
    response = client.post(
        "/api/workflows", content=INVALID_TASK_SPEC, headers=yaml_headers()
    )
    assert response.status_code == 422
    body = response.json()
    assert "invalid workflow spec" in body["error"]
    issue = body["issues"][0]
    assert set(issue) == {"message", "workflow", "task", "field", "line"}
    assert issue["task"] == "b"
    assert "url" in issue["message"]
    assert isinstance(issue["line"], int)
    assert client.get("/api/workflows/broken").status_code == 404


def test_invalid_yaml_reports_line(client: httpx.Client) -> None:
    response = client.post(
        "/api/workflows",
        content="name: x\ntasks: [\n  - a: 1\n",
        headers=yaml_headers(),
    )
    assert response.status_code == 422
    issue = response.json()["issues"][0]
    assert issue["line"] is not None


def test_put_name_must_match_url(client: httpx.Client) -> None:
    response = client.put(
        "/api/workflows/other-name",
        content=SPEC.format(name="real-name"),
        headers=yaml_headers(),
    )
    assert response.status_code == 422
    assert "other-name" in response.json()["error"]
    assert response.json()["issues"][0]["field"] == "name"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "message"),
    [
        (b"{not json", "application/json", 400, "invalid JSON body"),
        (b'{"yaml": "x"}', "application/json", 422, '{"spec"'),
        (b"name: x", "image/png", 415, "unsupported content type"),
        (b"   ", "application/yaml", 422, "empty workflow spec"),
        (b"\xff\xfe", "application/yaml", 400, "not UTF-8"),
    ],
    ids=["bad-json", "json-without-spec", "wrong-type", "empty", "not-utf8"],
)
def test_workflow_bad_bodies(
    client: httpx.Client, content: bytes, content_type: str, status: int, message: str
) -> None:
    response = client.post(
        "/api/workflows", content=content, headers={"content-type": content_type}
    )
    assert response.status_code == status
    assert message in response.json()["error"]


def test_body_over_limit_is_413(client: httpx.Client) -> None:
    big = SPEC.format(name="big") + "#" * (MAX_BODY_BYTES + 1)
    response = client.post("/api/workflows", content=big, headers=yaml_headers())
    assert response.status_code == 413
    assert str(MAX_BODY_BYTES) in response.json()["error"]


def test_unknown_workflow_is_404(client: httpx.Client) -> None:
    for path in (
        "/api/workflows/missing",
        "/api/workflows/missing/versions",
        "/api/workflows/missing/executions",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "missing" in response.json()["error"]


def test_unknown_api_path_is_404(client: httpx.Client) -> None:
    response = client.get("/api/no-such-endpoint")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/..%2F..%2Fetc/passwd",
        "/..%2F..%2Fpyproject.toml",
        "/%2e%2e/%2e%2e/pyproject.toml",
        "/css/..%2F..%2F..%2Fpyproject.toml",
        "/docs/assets/..%2F..%2F..%2Fpyproject.toml",
        "/a%00b",
        "/%00",
    ],
)
def test_static_path_traversal_is_404(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "error" in response.json()
    assert "[project]" not in response.text
    assert "root:" not in response.text


def test_docs_load_without_internet(client: httpx.Client) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "swagger-ui" in page.text
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", page.text)
    assert external == []
    for asset in re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text):
        assert client.get(asset).status_code == 200, asset
    schema = client.get("/openapi.json").json()
    assert "/api/workflows/{name}" in schema["paths"]
    assert "/api/triggers/{workflow}/{trigger}" in schema["paths"]


def test_validate_stores_nothing(client: httpx.Client) -> None:
    spec = SPEC.format(name="validated-only")
    response = client.post("/api/validate", content=spec, headers=yaml_headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is True
    assert body["name"] == "validated-only"
    assert body["tasks"] == [
        {"name": "first", "depends": []},
        {"name": "second", "depends": ["first"]},
    ]
    assert body["levels"] == [["first"], ["second"]]
    assert client.get("/api/workflows/validated-only").status_code == 404


def test_validate_reports_issues(client: httpx.Client) -> None:
    response = client.post(
        "/api/validate", content=INVALID_TASK_SPEC, headers=yaml_headers()
    )
    assert response.status_code == 422
    issue = response.json()["issues"][0]
    assert issue["task"] == "b"
    assert isinstance(issue["line"], int)


def test_workflow_shows_its_dag(client: httpx.Client) -> None:
    spec = SPEC.format(name="with-dag")
    created = client.put(
        "/api/workflows/with-dag", content=spec, headers=yaml_headers()
    )
    assert created.status_code in (200, 201), created.text
    body = client.get("/api/workflows/with-dag").json()
    assert body["dag"][1] == {"name": "second", "depends": ["first"]}
    assert body["levels"] == [["first"], ["second"]]
