"""The Zero to JupyterHub chart, as far as the tests can use it without helm or a cluster: the
chart defaults the sandbox's pod depends on (CHART_DEFAULTS, stated here for CHART_VERSION),
helm's merge of a config file over defaults, an approximation of the single-user container and
the idle culler the hub would start from the merged values, and, when they can be had, the
chart's own values schema and ``values.yaml`` at CHART_COMMIT (``chart_file``).

The chart's files are never committed here: ``chart_file`` reads them from a cache folder
(``$JUPYTER_SANDBOX_Z2JH_DIR``, default ``.cache/z2jh/<CHART_COMMIT>/``, gitignored) or
downloads them from raw.githubusercontent.com into it, and checks each against a pinned sha256.
When neither works it raises ChartFilesUnavailable, and the tests that need the files skip.

The approximation follows the chart's ``files/hub/jupyterhub_config.py`` at CHART_VERSION (which
turns ``singleuser.*`` into KubeSpawner traits) and KubeSpawner's use of those traits. It covers
what the sandbox depends on (image, memory and CPU, the home volume, ``extraFiles``,
``extraEnv``, the user id) and nothing else: no profile lists, init containers, node affinity or
``extraPodConfig``, and none of the ``JUPYTERHUB_*`` variables the spawner adds itself. helm is
not used because neither this machine nor CI can install it (Debian has no ``helm`` package and
the network reaches only PyPI, npm and Debian)."""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml

#: The chart release docs/deploy.md tells administrators to install, and its git commit (the
#: annotated tag ``4.4.0`` of github.com/jupyterhub/zero-to-jupyterhub-k8s).
CHART_VERSION = "4.4.0"
CHART_COMMIT = "5c5f5df751588a68a7781ead01d0f62e88e2e72f"
SCHEMA_PATH = "jupyterhub/values.schema.yaml"
VALUES_PATH = "jupyterhub/values.yaml"
#: The content of each chart file at CHART_COMMIT: a cached or downloaded file must match.
CHART_FILE_SHA256 = {
    SCHEMA_PATH: "1d9d48ee343efda1140edfc3de4d8ec4113ae9173bf9e44b83f19c2ca335a0dc",
    VALUES_PATH: "d61742ce43e33262bb8fa0d68b6b9e7a7b229a3c7ce6d5a08cf97788c0ba796b",
}
CHART_DIR_ENV = "JUPYTER_SANDBOX_Z2JH_DIR"
RAW_URL = "https://raw.githubusercontent.com/jupyterhub/zero-to-jupyterhub-k8s/{commit}/{path}"
#: Seconds: offline machines (CI reaches only PyPI, npm and Debian) should skip, not wait.
DOWNLOAD_TIMEOUT = 10.0
REPO_ROOT = Path(__file__).resolve().parents[2]

#: The defaults of chart 4.4.0's ``jupyterhub/values.yaml`` that ``render_singleuser`` and
#: ``render_culler_command`` (and the tests reading the merged values) use, and only those.
#: Written here, not read from the chart, so the pod checks run without the chart's files;
#: test_chart_defaults_are_the_pinned_charts compares every key with the chart when it can.
CHART_DEFAULTS: dict[str, Any] = {
    "hub": {"baseUrl": "/"},
    "singleuser": {
        "image": {"name": "quay.io/jupyterhub/k8s-singleuser-sample",
                  "tag": "set-by-chartpress"},
        "memory": {"limit": None, "guarantee": "1G"},
        "cpu": {"limit": None, "guarantee": None},
        "uid": 1000,
        "fsGid": 100,
        "allowPrivilegeEscalation": False,
        "cmd": "jupyterhub-singleuser",
        "extraEnv": {},
        "extraFiles": {},
        "extraPodConfig": {},
        "storage": {
            "type": "dynamic",
            "capacity": "10Gi",
            "homeMountPath": "/home/jovyan",
            "extraVolumes": None,
            "extraVolumeMounts": None,
            "static": {"pvcName": None, "subPath": "{username}"},
            # pvcNameTemplate null: KubeSpawner's own default (claim-{user_server}) applies.
            "dynamic": {"volumeNameTemplate": "volume-{user_server}", "pvcNameTemplate": None,
                        "subPath": None},
        },
    },
    "cull": {"enabled": True, "users": False, "adminUsers": True, "removeNamedServers": False,
             "timeout": 3600, "every": 600, "concurrency": 10, "maxAge": 0},
}


class ChartFilesUnavailable(RuntimeError):
    """The chart's files are neither in the cache folder nor downloadable (offline)."""


class ChartFileMismatch(ValueError):
    """A cached or downloaded chart file is not the one pinned in CHART_FILE_SHA256."""


def chart_dir() -> Path:
    """Where the chart's files are cached: ``$JUPYTER_SANDBOX_Z2JH_DIR`` or
    ``<repo>/.cache/z2jh/<CHART_COMMIT>/`` (paths inside it as in the chart's repository)."""
    configured = os.environ.get(CHART_DIR_ENV)
    return Path(configured) if configured else REPO_ROOT / ".cache" / "z2jh" / CHART_COMMIT


def _checked(path: str, data: bytes, origin: str) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != CHART_FILE_SHA256[path]:
        raise ChartFileMismatch(
            f"{origin} has sha256 {digest}, not the {CHART_FILE_SHA256[path]} of {path} at "
            f"chart {CHART_VERSION} (commit {CHART_COMMIT}); delete it to download it again, "
            f"or replace it with that file")
    return data


def chart_file(path: str) -> bytes:
    """The chart repository's file ``path`` (a key of CHART_FILE_SHA256) at CHART_COMMIT: from
    the cache folder, else downloaded into it; checked against its pinned sha256 either way."""
    if path not in CHART_FILE_SHA256:
        raise ValueError(f"{path}: no pinned sha256 for it in CHART_FILE_SHA256")
    cached = chart_dir() / path
    if cached.is_file():
        return _checked(path, cached.read_bytes(), str(cached))
    url = RAW_URL.format(commit=CHART_COMMIT, path=path)
    try:
        response = httpx.get(url, timeout=DOWNLOAD_TIMEOUT, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise ChartFilesUnavailable(
            f"the Zero to JupyterHub chart's {path} at {CHART_VERSION} is not in {cached} and "
            f"could not be downloaded from {url} ({type(error).__name__}: {error}). Allow HTTPS "
            f"to raw.githubusercontent.com, or put {', '.join(CHART_FILE_SHA256)} of commit "
            f"{CHART_COMMIT} under {chart_dir()} (or set {CHART_DIR_ENV} to a folder holding "
            f"them)") from error
    data = _checked(path, response.content, url)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as partial:
        partial.write(data)
    Path(partial.name).replace(cached)  # whole or absent: a later run never reads half a file
    return data


def _without_descriptions(node: Any) -> Any:
    """A schema without its ``description`` annotations (prose, at any depth: validation is
    unchanged), as the chart publishes its values.schema.json. Only string-valued ones are
    annotations: a property named ``description`` would map to a schema."""
    if isinstance(node, dict):
        return {key: _without_descriptions(value) for key, value in node.items()
                if not (key == "description" and isinstance(value, str))}
    if isinstance(node, list):
        return [_without_descriptions(item) for item in node]
    return node


def load_schema() -> dict[str, Any]:
    """The chart's values schema as JSON Schema (what ``helm install`` validates values
    against), from its ``values.schema.yaml``. Raises ChartFilesUnavailable when offline."""
    schema: dict[str, Any] = _without_descriptions(yaml.safe_load(chart_file(SCHEMA_PATH)))
    return schema


def load_defaults() -> dict[str, Any]:
    """The chart's whole ``values.yaml``. Raises ChartFilesUnavailable when offline."""
    defaults: dict[str, Any] = yaml.safe_load(chart_file(VALUES_PATH))
    return defaults


def merge_values(defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """helm's coalescing of ``--values`` over the chart's defaults: mappings merge key by key,
    anything else replaces the default, and ``null`` deletes the default's key."""
    merged = copy.deepcopy(defaults)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _environment(extra_env: Any) -> list[dict[str, Any]]:
    """``singleuser.extraEnv`` (a mapping of names to values or EnvVar bodies, or a list of
    EnvVars) as the container's ``env``."""
    if isinstance(extra_env, list):
        return [dict(item) for item in extra_env]
    env = []
    for name, value in (extra_env or {}).items():
        env.append({"name": name, **value} if isinstance(value, dict)
                   else {"name": name, "value": str(value)})
    return env


def render_singleuser(values: dict[str, Any]) -> dict[str, Any]:
    """The user pod's essentials, ``{"volumes": [...], "securityContext": {...}, "container":
    {...}}``, from merged values (an approximation: see the module docstring). Mount order is
    the chart's: the home volume, then ``extraFiles``, then ``storage.extraVolumeMounts``."""
    singleuser = values["singleuser"]
    storage = singleuser["storage"]
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    if storage["type"] in ("dynamic", "static"):
        if storage["type"] == "dynamic":
            name = storage["dynamic"]["volumeNameTemplate"]
            claim, sub_path = "{pvc_name}", storage["dynamic"].get("subPath")
        else:
            name = "home"
            claim, sub_path = storage["static"]["pvcName"], storage["static"].get("subPath")
        volumes.append({"name": name, "persistentVolumeClaim": {"claimName": claim}})
        mounts.append({"name": name, "mountPath": storage["homeMountPath"], "subPath": sub_path})
    extra_files = singleuser.get("extraFiles") or {}
    if extra_files:
        volumes.append({"name": "files", "secret": {"items": [
            {"key": key, "path": key, **({"mode": f["mode"]} if "mode" in f else {})}
            for key, f in extra_files.items()]}})
        mounts.extend({"name": "files", "mountPath": f["mountPath"], "subPath": key}
                      for key, f in extra_files.items())
    volumes.extend(_listed(storage.get("extraVolumes")))
    mounts.extend(_listed(storage.get("extraVolumeMounts")))

    resources: dict[str, dict[str, str]] = {"limits": {}, "requests": {}}
    for kind, section in (("memory", "memory"), ("cpu", "cpu")):
        if singleuser[section].get("limit") is not None:
            resources["limits"][kind] = str(singleuser[section]["limit"])
        if singleuser[section].get("guarantee") is not None:
            resources["requests"][kind] = str(singleuser[section]["guarantee"])
    image = singleuser["image"]["name"]
    if singleuser["image"].get("tag"):
        image = f"{image}:{singleuser['image']['tag']}"
    return {
        "volumes": volumes,
        "securityContext": {"fsGroup": singleuser.get("fsGid")},
        "container": {
            "name": "notebook",
            "image": image,
            "resources": resources,
            "env": _environment(singleuser.get("extraEnv")),
            "volumeMounts": mounts,
            "securityContext": {
                "runAsUser": singleuser.get("uid"),
                "allowPrivilegeEscalation": singleuser.get("allowPrivilegeEscalation"),
            },
        },
    }


def _listed(items: Any) -> list[dict[str, Any]]:
    """extraVolumes / extraVolumeMounts: the chart takes a mapping (its values) or a list."""
    if isinstance(items, dict):
        return list(items.values())
    return list(items or [])


def render_culler_command(values: dict[str, Any]) -> list[str] | None:
    """The ``jupyterhub-idle-culler`` service's command the hub would run, or None when
    ``cull.enabled`` is false (as the chart's jupyterhub_config.py builds it)."""
    cull = values.get("cull") or {}
    if not cull.get("enabled"):
        return None
    base_url = (values["hub"].get("baseUrl") or "/").rstrip("/")
    command = ["python3", "-m", "jupyterhub_idle_culler",
               f"--url=http://localhost:8081{base_url}/hub/api"]
    for key, option in (("timeout", "timeout"), ("every", "cull-every"),
                        ("concurrency", "concurrency")):
        if cull.get(key):
            command.append(f"--{option}={cull[key]}")
    if cull.get("users"):
        command.append("--cull-users")
    if not cull.get("adminUsers"):
        command.append("--cull-admin-users=false")
    if cull.get("removeNamedServers"):
        command.append("--remove-named-servers")
    if cull.get("maxAge"):
        command.append(f"--max-age={cull['maxAge']}")
    return command
