"""KubeRay manifests: CRD schemas, Serve config, Kubernetes models, names, files."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import yaml
from click.testing import CliRunner
from kubernetes import client
from ray.serve.schema import (
    DeploymentSchema,
    RayActorOptionsSchema,
    ServeApplicationSchema,
    ServeDeploySchema,
)

from walle_ray.cli import main
from walle_ray.kube.manifests import (
    HEADER,
    INGRESS_DEPLOYMENT,
    MAX_RAYJOB_NAME,
    MAX_RAYSERVICE_NAME,
    RAY_VERSION,
    SERVE_IMPORT_PATH,
    KubeSettings,
    bench_job,
    manifest_text,
    render_manifests,
)

ROOT = Path(__file__).resolve().parents[2]
KUBERAY_DIR = ROOT / "kuberay"

VARIANTS = {
    "defaults": KubeSettings(),
    "external-database": KubeSettings(database_secret="walle-db-url"),
    "existing-cluster": KubeSettings(cluster="walle-abcde"),
    "ingress-host": KubeSettings(
        ingress_host="walle.example.org", ingress_class="nginx"
    ),
    "scale-from-zero": KubeSettings(
        name="w2", namespace="team-a", replicas=0, min_workers=0, max_workers=10
    ),
}
CORE_MODELS = {
    "Secret": "V1Secret",
    "Service": "V1Service",
    "StatefulSet": "V1StatefulSet",
    "Ingress": "V1Ingress",
    "Deployment": "V1Deployment",
}


def all_manifests(settings: KubeSettings) -> list[dict[str, Any]]:
    return [m for ms in render_manifests(settings).values() for m in ms]


def by_kind(settings: KubeSettings, kind: str) -> list[dict[str, Any]]:
    return [m for m in all_manifests(settings) if m["kind"] == kind]


def committed_manifests() -> list[dict[str, Any]]:
    manifests = []
    for path in sorted(KUBERAY_DIR.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def schema_errors(validator: jsonschema.Draft7Validator, obj: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(obj)
    ]


def serve_configs(manifests: list[dict[str, Any]]) -> list[Any]:
    return [
        yaml.safe_load(m["spec"]["serveConfigV2"])
        for m in manifests
        if m["kind"] == "RayService"
    ]


def unknown_serve_keys(config: dict[str, Any]) -> list[str]:
    """List keys that Ray Serve's schema models do not define (they ignore them)."""

    def extra(data: dict[str, Any], model: Any, where: str) -> list[str]:
        known = set(model.model_fields)
        known |= {f.alias for f in model.model_fields.values() if f.alias}
        return [f"{where}.{key}" for key in data if key not in known]

    found = extra(config, ServeDeploySchema, "config")
    for app in config.get("applications", []):
        found += extra(app, ServeApplicationSchema, "application")
        for deployment in app.get("deployments", []):
            found += extra(deployment, DeploymentSchema, "deployment")
            options = deployment.get("ray_actor_options", {})
            found += extra(options, RayActorOptionsSchema, "ray_actor_options")
    return found


# The files in kuberay/


def test_kuberay_files_equal_render() -> None:
    files = render_manifests(KubeSettings())
    for file_name, manifests in files.items():
        path = KUBERAY_DIR / file_name
        assert path.is_file(), f"{path} missing: run 'walle kube render'"
        assert path.read_text(encoding="utf-8") == manifest_text(manifests), (
            f"{path} differs from 'walle kube render' output: re-render it"
        )
    on_disk = {p.name for p in KUBERAY_DIR.glob("*.yaml")}
    assert on_disk == set(files)


def test_kuberay_files_pass_crd_schemas(crd_validators: dict[str, Any]) -> None:
    ray_objects = [m for m in committed_manifests() if m["apiVersion"] == "ray.io/v1"]
    assert {m["kind"] for m in ray_objects} == {"RayService", "RayJob"}
    for manifest in ray_objects:
        errors = schema_errors(crd_validators[manifest["kind"]], manifest)
        assert errors == [], f"{manifest['metadata']['name']}: {errors}"


def test_kuberay_serve_config_parses() -> None:
    configs = serve_configs(committed_manifests())
    assert len(configs) == 1
    ServeDeploySchema.model_validate(configs[0])
    assert unknown_serve_keys(configs[0]) == []


# Rendered variants


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_ray_objects_pass_crds(
    variant: str, crd_validators: dict[str, Any]
) -> None:
    settings = VARIANTS[variant]
    manifests = [*all_manifests(settings), bench_job(settings, "walle-bench-1")]
    for manifest in manifests:
        if manifest["apiVersion"] != "ray.io/v1":
            continue
        errors = schema_errors(crd_validators[manifest["kind"]], manifest)
        assert errors == [], f"{manifest['metadata']['name']}: {errors}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_core_objects_fit_models(variant: str) -> None:
    api = client.ApiClient()
    for manifest in all_manifests(VARIANTS[variant]):
        if manifest["apiVersion"] == "ray.io/v1":
            continue
        model = CORE_MODELS[manifest["kind"]]
        obj = api.deserialize(json.dumps(manifest), model, "application/json")
        # The models drop fields they do not know, so a round trip that
        # changes the object reveals an unknown or misspelled field.
        assert api.sanitize_for_serialization(obj) == manifest


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_serve_config_parses(variant: str) -> None:
    (config,) = serve_configs(all_manifests(VARIANTS[variant]))
    schema = ServeDeploySchema.model_validate(config)
    (app,) = schema.applications
    assert app.import_path == SERVE_IMPORT_PATH
    (deployment,) = app.deployments
    assert deployment.name == INGRESS_DEPLOYMENT
    assert deployment.ray_actor_options.num_cpus == 0
    assert unknown_serve_keys(config) == []


def test_pod_templates_fit_models() -> None:
    """Ray pod templates are core PodTemplateSpecs inside the CRD."""
    api = client.ApiClient()
    templates = []
    for manifest in all_manifests(KubeSettings()):
        spec = manifest.get("spec", {})
        cluster = spec.get("rayClusterConfig") or spec.get("rayClusterSpec")
        if cluster is None:
            continue
        templates.append(cluster["headGroupSpec"]["template"])
        templates += [group["template"] for group in cluster["workerGroupSpecs"]]
    assert len(templates) == 6
    for template in templates:
        obj = api.deserialize(json.dumps(template), "V1PodTemplateSpec", None)
        assert api.sanitize_for_serialization(obj) == template


def test_strict_schema_rejects_unknown_field(crd_validators: dict[str, Any]) -> None:
    (service,) = by_kind(KubeSettings(), "RayService")
    service["spec"]["rayClusterConfig"]["enableInTreeAutoscale"] = True
    errors = schema_errors(crd_validators["RayService"], service)
    assert len(errors) == 1
    assert "enableInTreeAutoscale" in errors[0]


def test_strict_schema_rejects_wrong_type(crd_validators: dict[str, Any]) -> None:
    (job,) = [
        m for m in by_kind(KubeSettings(), "RayJob") if "bench" in m["metadata"]["name"]
    ]
    job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["maxReplicas"] = "4"
    assert schema_errors(crd_validators["RayJob"], job) != []


def test_rayservice_autoscales() -> None:
    (service,) = by_kind(KubeSettings(min_workers=2, max_workers=7), "RayService")
    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["enableInTreeAutoscaling"] is True
    (group,) = cluster["workerGroupSpecs"]
    assert group["minReplicas"] == 2
    assert group["maxReplicas"] == 7
    assert cluster["rayVersion"] == RAY_VERSION


def test_rayjobs_create_or_select_cluster() -> None:
    own = by_kind(KubeSettings(), "RayJob")
    selected = by_kind(KubeSettings(cluster="walle-x7k2p"), "RayJob")
    assert len(own) == 2
    assert len(selected) == 2
    for job in own:
        assert "rayClusterSpec" in job["spec"]
        assert "clusterSelector" not in job["spec"]
        assert job["spec"]["shutdownAfterJobFinishes"] is True
    for job in selected:
        assert job["spec"]["clusterSelector"] == {"ray.io/cluster": "walle-x7k2p"}
        assert "rayClusterSpec" not in job["spec"]
        assert "shutdownAfterJobFinishes" not in job["spec"]


def test_rayjob_entrypoints() -> None:
    jobs = {j["metadata"]["name"]: j for j in by_kind(KubeSettings(), "RayJob")}
    workflow = jobs["walle-workflow"]["spec"]["entrypoint"]
    bench = jobs["walle-bench"]["spec"]["entrypoint"]
    assert workflow.startswith("walle run /app/examples/")
    assert "--json" in workflow
    assert bench == "python -m walle_ray.kube.benchjob --quick"


def test_database_url_comes_from_secret() -> None:
    for settings, secret in [
        (KubeSettings(), "walle-database"),
        (KubeSettings(database_secret="prod-db"), "prod-db"),
    ]:
        (service,) = by_kind(settings, "RayService")
        cluster = service["spec"]["rayClusterConfig"]
        pods = [cluster["headGroupSpec"]] + cluster["workerGroupSpecs"]
        for pod in pods:
            (container,) = pod["template"]["spec"]["containers"]
            env = {e["name"]: e for e in container["env"]}
            ref = env["WALLE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": secret, "key": "url"}


def test_external_database_renders_no_postgres() -> None:
    files = render_manifests(KubeSettings(database_secret="prod-db"))
    assert "postgres.yaml" not in files
    assert by_kind(KubeSettings(database_secret="prod-db"), "StatefulSet") == []


def test_bundled_postgres_matches_secret() -> None:
    settings = KubeSettings()
    (secret,) = by_kind(settings, "Secret")
    (statefulset,) = by_kind(settings, "StatefulSet")
    (service,) = by_kind(settings, "Service")
    url = secret["stringData"]["url"]
    assert url.startswith(f"postgresql://walle:{secret['stringData']['password']}@")
    assert f"@{service['metadata']['name']}.default.svc" in url
    template_labels = statefulset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"] == template_labels
    assert statefulset["spec"]["selector"]["matchLabels"] == template_labels


def test_ingress_routes_to_serve_port() -> None:
    (ingress,) = by_kind(KubeSettings(name="wf"), "Ingress")
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {
        "name": "wf-serve-svc",
        "port": {"number": 8000},
    }
    assert "host" not in rule


# Names and settings


def test_longest_valid_name_renders() -> None:
    longest = "w" * (MAX_RAYJOB_NAME - len("-workflow"))
    render_manifests(KubeSettings(name=longest))
    assert len(longest) <= MAX_RAYSERVICE_NAME


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("w" * (MAX_RAYJOB_NAME - len("-workflow") + 1), "at most 47"),
        ("Walle", "lowercase"),
        ("1walle", "starting with a letter"),
        ("walle-", "ending with a letter or digit"),
        ("wal_le", "lowercase"),
    ],
)
def test_invalid_name_rejected(name: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)) as info:
        render_manifests(KubeSettings(name=name))
    assert repr(name)[:20] in str(info.value)


def test_cluster_name_limit() -> None:
    with pytest.raises(ValueError, match="at most 53"):
        render_manifests(KubeSettings(cluster="c" * 54))


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"min_workers": 3, "max_workers": 2, "replicas": 3}, "max workers 2"),
        ({"replicas": 9}, "worker replicas 9"),
        ({"image": "walle ray:1"}, "invalid image"),
        ({"namespace": "Team"}, "invalid namespace"),
    ],
)
def test_invalid_settings_rejected(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        KubeSettings(**changes).check()


# The command


def test_render_command_writes_settings(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "kube",
            "render",
            "--image",
            "registry.example.org/walle:2",
            "--min-workers",
            "0",
            "--replicas",
            "0",
            "--max-workers",
            "8",
            "--gateway",
            "http://gw.faas:8080",
            "--database-secret",
            "prod-db",
            "--namespace",
            "walle",
            "--output",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    expected = KubeSettings(
        image="registry.example.org/walle:2",
        min_workers=0,
        replicas=0,
        max_workers=8,
        gateway="http://gw.faas:8080",
        database_secret="prod-db",
        namespace="walle",
    )
    files = render_manifests(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)
    for file_name, manifests in files.items():
        assert (tmp_path / file_name).read_text() == manifest_text(manifests)


def test_render_command_drops_stale_postgres(tmp_path: Path) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["kube", "render", "-o", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "postgres.yaml").read_text().startswith(HEADER)
    second = runner.invoke(
        main, ["kube", "render", "-o", str(tmp_path), "--database-secret", "db"]
    )
    assert second.exit_code == 0, second.output
    assert not (tmp_path / "postgres.yaml").exists()


def test_render_command_rejects_long_name(tmp_path: Path) -> None:
    name = "n" * 48
    result = CliRunner().invoke(
        main, ["kube", "render", "--name", name, "-o", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert name in result.output
    assert list(tmp_path.iterdir()) == []


# The image


def test_dockerfile_base_matches_installed_ray() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    bases = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    python = f"py{sys.version_info.major}{sys.version_info.minor}"
    assert bases == [f"rayproject/ray:{ray.__version__}-{python}"]
    assert ray.__version__ == RAY_VERSION


def test_dockerfile_installs_package() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^RUN .*pip install .*/app", text, flags=re.MULTILINE)
    assert "WALLE_APP_DIR=/app" in text
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv", ".git"):
        assert entry in ignored
