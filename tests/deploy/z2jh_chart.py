"""The Zero to JupyterHub chart, as far as the tests can use it without helm or a cluster: its
vendored values schema and default values (tests/deploy/z2jh/, pinned to CHART_VERSION), helm's
merge of a config file over those defaults, and an approximation of the single-user container
and the idle culler the hub would start from the merged values.

The approximation follows the chart's ``files/hub/jupyterhub_config.py`` at CHART_VERSION (which
turns ``singleuser.*`` into KubeSpawner traits) and KubeSpawner's use of those traits. It covers
what the sandbox depends on (image, memory and CPU, the home volume, ``extraFiles``,
``extraEnv``, the user id) and nothing else: no profile lists, init containers, node affinity or
``extraPodConfig``, and none of the ``JUPYTERHUB_*`` variables the spawner adds itself. helm is
not used because neither this machine nor CI can install it (Debian has no ``helm`` package and
the network reaches only PyPI, npm and Debian)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent / "z2jh"
#: The chart release the vendored files come from (tests/deploy/z2jh/README.md), and the one
#: docs/deploy.md tells administrators to install.
CHART_VERSION = "4.4.0"
CHART_COMMIT = "5c5f5df751588a68a7781ead01d0f62e88e2e72f"


def load_schema() -> dict[str, Any]:
    """The chart's ``values.schema.json``: what ``helm install`` validates values against."""
    schema: dict[str, Any] = json.loads((HERE / "values.schema.json").read_text())
    return schema


def load_defaults() -> dict[str, Any]:
    """The chart's ``values.yaml``."""
    defaults: dict[str, Any] = yaml.safe_load((HERE / "values.yaml").read_text())
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
