"""deploy/config.yaml against the Zero to JupyterHub chart it is written for (pinned in
tests/deploy/z2jh_chart.py), and what the sandbox needs from the user pod the chart would
start: memory for the sandbox and its kernel, the image's warm compiled-module cache where the
pod can use it, the sandbox state on the home volume, previews on the shared origin, and the
idle culler.

The pod checks merge config.yaml over z2jh_chart.CHART_DEFAULTS and always run. The checks
against the chart's own schema and values.yaml need those files (fetched at the pinned commit
into a gitignored cache, never committed) and skip, with the reason, when they cannot be had."""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jupyterhub_idle_culler import IdleCuller

from jupyter_sandbox.kernel.control_protocol import state_root
from jupyter_sandbox.kernel.snapshot_key import snapshot_key_path
from jupyter_sandbox.runtime.module_cache import CACHE_DIR_ENV, cache_dir
from jupyter_sandbox.server_extension.app import SandboxExtensionApp
from jupyter_sandbox.server_extension.checkpoints import SandboxCheckpoints

from . import z2jh_chart
from .conftest import ROOT
from .test_deploy_files import _bytes, dockerfile_instructions, kernel_config_file_name

CONFIG = ROOT / "deploy" / "config.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
#: The notebook user of Jupyter Docker Stacks images (NB_UID's default).
DOCKER_STACKS_NB_UID = 1000
MIB = 2**20


@pytest.fixture(scope="session")
def chart() -> dict[str, dict[str, Any]]:
    """The pinned chart's ``{"schema": ..., "defaults": ...}`` (its values schema, checked to
    be valid JSON Schema, and its values.yaml); skips when the files cannot be had offline."""
    try:
        schema = z2jh_chart.load_schema()
        defaults = z2jh_chart.load_defaults()
    except z2jh_chart.ChartFilesUnavailable as error:
        pytest.skip(str(error))
    jsonschema.Draft7Validator.check_schema(schema)
    return {"schema": schema, "defaults": defaults}


@pytest.fixture(scope="session")
def config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    return loaded


@pytest.fixture(scope="session")
def values(config: dict[str, Any]) -> dict[str, Any]:
    """What the pod checks read: deploy/config.yaml over the chart defaults they depend on."""
    return z2jh_chart.merge_values(z2jh_chart.CHART_DEFAULTS, config)


@pytest.fixture(scope="session")
def pod(values: dict[str, Any]) -> dict[str, Any]:
    return z2jh_chart.render_singleuser(values)


def schema_errors(schema: dict[str, Any], values: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                  for e in validator.iter_errors(values))


# -- the chart's values schema ------------------------------------------------------------------
def test_config_is_valid_values_for_the_pinned_chart(chart, config):
    assert schema_errors(chart["schema"], chart["defaults"]) == []  # the two files agree
    # What helm validates: config.yaml over the chart's whole values.yaml.
    assert schema_errors(chart["schema"], z2jh_chart.merge_values(chart["defaults"],
                                                                  config)) == []


def leaves(tree: dict[str, Any], path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Each key path of a nested mapping with its value (an empty mapping is a value)."""
    found = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            found.extend(leaves(value, (*path, key)))
        else:
            found.append(((*path, key), value))
    return found


def test_chart_defaults_are_the_pinned_charts(chart):
    """CHART_DEFAULTS (what the pod checks assume) is what the chart's values.yaml says."""
    assert len(leaves(z2jh_chart.CHART_DEFAULTS)) > 20
    for path, value in leaves(z2jh_chart.CHART_DEFAULTS):
        actual: Any = chart["defaults"]
        for key in path:
            assert isinstance(actual, dict) and key in actual, f"{'.'.join(path)}: not in chart"
            actual = actual[key]
        assert actual == value, f"{'.'.join(path)}: chart has {actual!r}, not {value!r}"


def test_a_cached_chart_file_other_than_the_pinned_one_is_refused(tmp_path, monkeypatch):
    """A stale or edited file in the cache fails the run (it is not skipped, nor used)."""
    monkeypatch.setenv(z2jh_chart.CHART_DIR_ENV, str(tmp_path))
    cached = tmp_path / z2jh_chart.VALUES_PATH
    cached.parent.mkdir(parents=True)
    cached.write_text("singleuser:\n  uid: 0\n")
    with pytest.raises(z2jh_chart.ChartFileMismatch, match="delete it to download it again"):
        z2jh_chart.load_defaults()
    assert cached.read_text() == "singleuser:\n  uid: 0\n"


@pytest.mark.parametrize(("path", "value", "expected"), [
    (("singleuser", "memroy"), {"limit": "3G"}, "Additional properties are not allowed"),
    (("singleuser", "memory", "limit"), ["3G"], "is not of type"),
    (("cull", "timeout"), "an hour", "is not of type"),
    (("singleuser", "extraFiles", "sandbox-limits", "mountpath"), "/etc/jupyter/x.json",
     "Additional properties are not allowed"),
    (("singleuser", "storage", "type"), "persistent", "is not one of"),
])
def test_schema_refuses_a_mutated_config(chart, config, path, value, expected):
    mutated = copy.deepcopy(config)
    target = mutated
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    errors = schema_errors(chart["schema"], z2jh_chart.merge_values(chart["defaults"], mutated))
    assert errors and any(expected in e for e in errors), errors
    assert any(e.startswith(".".join(path[:-1])) for e in errors), errors


# -- memory: the pod's limit holds the sandbox, its kernel and the server ------------------------
def sizing_from_docs() -> tuple[float, float, float, float]:
    """docs/deploy.md's "Sizing" figures, in MiB: (server, idle kernel, and a busy kernel's
    factor and overhead over memory_limit_mib). Read from the document, so the check and the
    advice cannot drift apart."""
    text = DEPLOY_DOC.read_text()
    server = re.search(r"\| Jupyter server[^|]*\| (\d+) MiB \|", text)
    idle = re.search(r"about \*\*(\d+) MiB per idle kernel\*\*", text)
    busy = re.search(r"\*\*`memory_limit_mib` × ([\d.]+) \+ (\d+) MiB\*\*", text)
    assert server and idle and busy, "docs/deploy.md's Sizing section lost its figures"
    return float(server[1]), float(idle[1]), float(busy[1]), float(busy[2])


def kernel_limits_files(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The sandbox limits each pod's kernels read: the image's file and the one config.yaml
    mounts over it (at the same path, so it replaces it)."""
    image_copy = [args.split() for name, args in dockerfile_instructions(DOCKERFILE)
                  if name == "COPY" and args.rstrip().endswith("/etc/jupyter/")]
    (sources,) = [[s for s in words[:-1] if Path(s).name == kernel_config_file_name()]
                  for words in image_copy]
    image_file = yaml.safe_load((ROOT / sources[0]).read_text())
    mounted = {f["mountPath"]: f["data"] for f in values["singleuser"]["extraFiles"].values()}
    return {"image": image_file,
            "config.yaml": mounted[f"/etc/jupyter/{kernel_config_file_name()}"]}


def test_pod_memory_holds_a_full_sandbox_its_kernel_and_the_server(values, pod):
    server, idle_kernel, factor, overhead = sizing_from_docs()
    resources = pod["container"]["resources"]
    limit = _bytes(resources["limits"]["memory"]) / MIB
    guarantee = _bytes(resources["requests"]["memory"]) / MIB
    assert guarantee <= limit
    # Guaranteed: the server and one idle kernel (a user's first notebook never starts short).
    assert guarantee >= server + idle_kernel, (guarantee, server + idle_kernel)
    for source, limits in kernel_limits_files(values).items():
        sandbox = limits["SandboxKernel"]["memory_limit_mib"]
        # At the limit: one kernel whose sandbox used all of its memory, one idle kernel and
        # the server, so a memory bomb in a cell is the sandbox's MemoryError, not the pod's
        # OOM kill (which would take every kernel and the server with it).
        needed = server + idle_kernel + sandbox * factor + overhead
        assert limit >= needed, f"{source}: memory_limit_mib {sandbox} needs {needed:.0f} MiB"
    assert float(resources["requests"]["cpu"]) <= float(resources["limits"]["cpu"])


# -- the compiled-module cache: warmed into the image, writable, not hidden by a mount ----------
def image_env() -> dict[str, str]:
    return dict(re.match(r"(\S+?)[= ](.*)", args).groups()  # type: ignore[union-attr]
                for name, args in dockerfile_instructions(DOCKERFILE) if name == "ENV")


def container_env(pod: dict[str, Any]) -> dict[str, str]:
    """The environment the notebook server and its kernels get: the image's ENV, overridden
    by the container's env (singleuser.extraEnv)."""
    env = image_env()
    for item in pod["container"]["env"]:
        assert "value" in item, f"{item['name']}: only literal values can be checked here"
        env[item["name"]] = item["value"]
    return env


def covers(mount_path: str, path: str) -> bool:
    return Path(path) == Path(mount_path) or Path(mount_path) in Path(path).parents


def test_warm_cache_is_built_into_the_image_where_the_pod_finds_and_writes_it(pod):
    instructions = dockerfile_instructions(DOCKERFILE)
    cache = image_env()[CACHE_DIR_ENV]
    # The kernels of the pod look where the image warmed it.
    assert container_env(pod)[CACHE_DIR_ENV] == cache
    # Warmed at build time, after the variable is set, as the notebook user (kernels take a
    # lock file in the cache and fill it for a new guest build, so it must be theirs).
    env_at = next(i for i, (name, args) in enumerate(instructions)
                  if name == "ENV" and args.startswith(CACHE_DIR_ENV))
    (warmup_at,) = [i for i, (name, args) in enumerate(instructions)
                    if name == "RUN" and "jupyter-sandbox warmup" in args]
    assert env_at < warmup_at
    users = [args for name, args in instructions[:warmup_at] if name == "USER"]
    assert users[-1] == "${NB_UID}", users
    (made,) = [shlex.split(args) for name, args in instructions
               if name == "RUN" and args.startswith("install -d")]
    assert made[made.index("-o") + 1] == "${NB_UID}" and cache in made, made
    assert pod["container"]["securityContext"]["runAsUser"] == DOCKER_STACKS_NB_UID
    # No volume of the pod is mounted over the cache: it would hide the warm copy.
    hiding = [m["mountPath"] for m in pod["container"]["volumeMounts"]
              if covers(m["mountPath"], cache) or covers(cache, m["mountPath"])]
    assert hiding == []


# -- the user's sandbox state lives on the home volume ------------------------------------------
def test_snapshots_checkpoints_and_signing_key_are_on_the_home_volume(pod, monkeypatch):
    homes = [m for m in pod["container"]["volumeMounts"]
             if any(v["name"] == m["name"] and "persistentVolumeClaim" in v
                    for v in pod["volumes"])]
    assert len(homes) == 1, "no home volume: singleuser.storage.type must be dynamic or static"
    home_path = homes[0]["mountPath"]
    assert home_path == "/home/jovyan"  # docker-stacks' home, which the snapshot keys name
    # Where the code puts the state, with the pod's environment (HOME is the notebook user's).
    for name in ("JUPYTER_DATA_DIR", "XDG_DATA_HOME", "JUPYTER_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", home_path)
    for name, value in container_env(pod).items():
        monkeypatch.setenv(name, value)
    places = {"state": state_root(), "signing key": snapshot_key_path(),
              "checkpoints": Path(SandboxCheckpoints().root)}
    assert places["state"] == Path(home_path, ".local/share/jupyter/sandbox")  # docs/deploy.md
    for what, path in places.items():
        assert covers(home_path, str(path)), f"{what} at {path} is not on the home volume"
    # ... while the warm cache is not (the home volume would hide it: see above).
    assert not covers(home_path, str(cache_dir()))


# -- previews: the shared origin under the hub --------------------------------------------------
def test_previews_use_the_shared_origin(values, pod):
    assert SandboxExtensionApp.class_traits()["preview_host"].default_value == ""
    server_configs = [f["data"] for f in values["singleuser"]["extraFiles"].values()
                      if Path(f["mountPath"]).name.startswith("jupyter_server_config")]
    server_configs.append(yaml.safe_load((ROOT / "deploy/jupyter_server_config.json")
                                         .read_text()))
    assert server_configs and all(not c.get("SandboxExtensionApp", {}).get("preview_host")
                                  for c in server_configs)
    assert not [item for item in pod["container"]["env"] if "preview" in str(item).lower()]
    assert values["singleuser"].get("cmd") in (None, "jupyterhub-singleuser")
    assert "preview_host" not in str(values["singleuser"].get("extraPodConfig") or "")


# -- idle culling -------------------------------------------------------------------------------
def test_idle_culler_stops_servers_after_the_documented_hour(values):
    command = z2jh_chart.render_culler_command(values)
    assert command is not None, "cull.enabled must stay true"
    options = dict(arg.removeprefix("--").split("=", 1) for arg in command if "=" in arg)
    assert int(options["timeout"]) == 3600  # docs/deploy.md: "after an hour"
    assert 0 < int(options["cull-every"]) <= int(options["timeout"])
    assert "--cull-users" not in command  # servers are stopped; users and volumes stay
    # Every option is one the culler has (the hub would fail to start the service otherwise).
    names = {arg.removeprefix("--").split("=", 1)[0] for arg in command[3:]}
    assert names <= set(IdleCuller.aliases) | set(IdleCuller.flags), names
    assert "after an hour" in DEPLOY_DOC.read_text()


def test_docs_install_the_chart_version_the_tests_check():
    text = DEPLOY_DOC.read_text()
    installs = re.findall(r"helm upgrade --install .*?(?=\n\s*```)", text, re.S)
    assert installs and all(f"--version={z2jh_chart.CHART_VERSION}" in i for i in installs)
    header = CONFIG.read_text().split("\n\n", 1)[0]
    assert f"--version={z2jh_chart.CHART_VERSION}" in header
