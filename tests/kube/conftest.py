"""Fixtures for the Kubernetes tests: the KubeRay CRD schemas, made strict."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRDS_ENV = "WALLE_KUBERAY_CRDS"
IN_CI = os.environ.get("CI", "").lower() == "true"
CRD_FILES = {
    "RayService": "ray.io_rayservices.yaml",
    "RayJob": "ray.io_rayjobs.yaml",
    "RayCluster": "ray.io_rayclusters.yaml",
}


def crds_dir() -> Path:
    """Return the KubeRay CRD folder: ``$WALLE_KUBERAY_CRDS`` or the default."""
    configured = os.environ.get(CRDS_ENV)
    if configured:
        return Path(configured)
    return ROOT.parent / "shared" / "kuberay-crds"


def strict(schema: Any) -> Any:
    """Copy an OpenAPI schema, rejecting properties it does not declare.

    CRD schemas allow unknown fields unless the API server prunes them, so
    every object schema with ``properties`` gets ``additionalProperties:
    false``, except where ``x-kubernetes-preserve-unknown-fields`` keeps them.
    """
    schema = copy.deepcopy(schema)
    _make_strict(schema)
    return schema


def _make_strict(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _make_strict(item)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _make_strict(value)
    preserves = node.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in node and "additionalProperties" not in node and not preserves:
        node["additionalProperties"] = False


@pytest.fixture(scope="session")
def crd_validators() -> dict[str, jsonschema.Draft7Validator]:
    """One strict validator per KubeRay kind, from its v1 schema."""
    folder = crds_dir()
    if not folder.is_dir():
        message = (
            f"KubeRay CRDs not found in {folder}: set {CRDS_ENV} to the folder "
            "with ray.io_rayservices.yaml and ray.io_rayjobs.yaml"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    validators = {}
    for kind, file_name in CRD_FILES.items():
        text = (folder / file_name).read_text(encoding="utf-8")
        crd = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        schema = strict(version["schema"]["openAPIV3Schema"])
        validators[kind] = jsonschema.Draft7Validator(schema)
    return validators
