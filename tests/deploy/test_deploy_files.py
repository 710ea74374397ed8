"""deploy/ (Dockerfile, Zero to JupyterHub config) and binder/, checked without a container
engine or a cluster: referenced files exist, the base image is an official, pinned Jupyter
image, and every kernel name and config key matches the code that reads it."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_server.serverapp import ServerApp
from jupyter_server.services.kernels.kernelmanager import MappingKernelManager

from jupyter_sandbox.kernel.app import SandboxKernelApp
from jupyter_sandbox.kernel.kernel import SandboxKernel

from .conftest import ROOT

KERNEL_NAME = "sandboxed-python"
#: The classes whose traits the deployment files configure.
CONFIGURABLE = {cls.__name__: cls for cls in
                (SandboxKernel, MappingKernelManager, KernelSpecManager, ServerApp)}
#: Jupyter Docker Stacks images (quay.io since 2023; Docker Hub before).
OFFICIAL_IMAGE = re.compile(r"^(quay\.io/)?jupyter/(docker-stacks-foundation|base-notebook|"
                            r"minimal-notebook|scipy-notebook|datascience-notebook|r-notebook|"
                            r"julia-notebook|pytorch-notebook|tensorflow-notebook)$")
#: A date tag (2026-08-24), a commit tag (12 hex digits) or a digest: never a moving tag.
PINNED = re.compile(r"^(:\d{4}-\d{2}-\d{2}|:[0-9a-f]{12}|@sha256:[0-9a-f]{64})$")


def kernel_config_file_name() -> str:
    """The file SandboxKernelApp reads, as .py or .json, in each Jupyter config folder."""
    return Path(SandboxKernelApp().config_file_name).stem + ".json"


def check_config(config: dict[str, Any]) -> None:
    for section, values in config.items():
        assert section in CONFIGURABLE, f"unknown config section {section}"
        unknown = set(values) - set(CONFIGURABLE[section].class_trait_names(config=True))
        assert not unknown, f"{section} has no configurable traits {sorted(unknown)}"
    if "MappingKernelManager" in config:
        assert config["MappingKernelManager"]["default_kernel_name"] == KERNEL_NAME


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines
            if line and not line.startswith("#")]


def test_kernel_name_is_the_installed_kernelspec():
    spec = json.loads((ROOT / "share/jupyter/kernels" / KERNEL_NAME / "kernel.json").read_text())
    assert spec["display_name"] == "Sandboxed Python"
    for notebook in (ROOT / "examples").glob("*.ipynb"):
        assert json.loads(notebook.read_text())["metadata"]["kernelspec"]["name"] == KERNEL_NAME


def test_dockerfile_from_official_pinned_image_installs_and_warms_up():
    instructions = dockerfile_instructions(ROOT / "deploy" / "Dockerfile")
    (base,) = [args for name, args in instructions if name == "FROM"]
    image = re.match(r"^([^:@\s]+)([:@]\S+)?", base)
    assert image and OFFICIAL_IMAGE.match(image[1]), base
    assert image[2] and PINNED.match(image[2]), f"{base}: pin a date tag or a digest"

    copied_to: list[str] = []
    for name, args in instructions:
        if name == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            for source in words[:-1]:  # relative to the build context: the repository root
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
            copied_to.append(words[-1])
    runs = " && ".join(args for name, args in instructions if name == "RUN")
    assert any(f"pip install --no-cache-dir {target}" in runs for target in copied_to), runs
    assert "jupyter-sandbox warmup" in runs
    assert runs.index("pip install") < runs.index("jupyter-sandbox warmup")
    # The compiled guest must not sit in the home folder: JupyterHub mounts a volume over it.
    envs = dict(re.match(r"(\S+?)[= ](.*)", args).groups() for name, args in instructions
                if name == "ENV")
    assert not envs["JUPYTER_SANDBOX_CACHE_DIR"].startswith("/home/")
    # The files copied into /etc/jupyter are the ones the server and the kernel read.
    (etc_copy,) = [args.split() for name, args in instructions
                   if name == "COPY" and args.rstrip().endswith("/etc/jupyter/")]
    names = {Path(source).name for source in etc_copy[:-1]}
    assert names == {"jupyter_server_config.json", kernel_config_file_name()}
    for source in etc_copy[:-1]:
        check_config(json.loads((ROOT / source).read_text()))


def test_zero_to_jupyterhub_config_uses_the_image_and_real_config_keys():
    config = yaml.safe_load((ROOT / "deploy" / "config.yaml").read_text())
    singleuser = config["singleuser"]
    assert singleuser["image"]["name"].endswith("jupyter-sandbox-singleuser")
    assert isinstance(singleuser["image"]["tag"], str)
    assert singleuser["defaultUrl"] == "/lab"
    assert singleuser["storage"]["type"] == "dynamic"  # the home volume keeps sandbox state
    files = {Path(f["mountPath"]).name: f for f in singleuser["extraFiles"].values()}
    limits = files[kernel_config_file_name()]
    assert Path(limits["mountPath"]).parent == Path("/etc/jupyter")
    check_config(limits["data"])
    assert limits["data"]["SandboxKernel"]["memory_limit_mib"] * 2**20 < _bytes(
        singleuser["memory"]["limit"]), "the sandbox limit must fit in the pod's"
    server = files["jupyter_server_config.json"]
    check_config(server["data"])
    assert server["data"]["KernelSpecManager"]["allowed_kernelspecs"] == [KERNEL_NAME]


def _bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMGT]i?)?", quantity).groups()
    powers = {"K": 1, "M": 2, "G": 3, "T": 4}
    return int(number) * ((1024 if unit.endswith("i") else 1000) ** powers[unit[0]] if unit else 1)


def test_binder_files():
    binder = ROOT / "binder"
    requirements = [line.strip() for line in (binder / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    assert "." in requirements  # the repository itself, from its root, as repo2docker runs pip
    assert any(line.startswith("jupyterlab") for line in requirements)
    runtime = (binder / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.(1[1-9])", runtime), runtime  # requires-python >= 3.11

    post_build = binder / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    script = post_build.read_text()
    assert script.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script
    assert "jupyter-sandbox warmup" in script
    for name in re.findall(r'"\$here/([^"]+)"', script):
        assert (binder / name).is_file(), name
        check_config(json.loads((binder / name).read_text()))
    assert f'"$etc/{kernel_config_file_name()}"' in script


@pytest.mark.parametrize("document", ["README.md", "docs/deploy.md"])
def test_launch_link_and_deploy_docs(document):
    text = (ROOT / document).read_text()
    if document == "README.md":
        assert re.search(r"https://mybinder\.org/badge_logo\.svg\)\]\(https://mybinder\.org/v2/gh/"
                         r"[^/\s]+/[^/\s]+/HEAD\?urlpath=lab/tree/examples\)", text)
    else:
        assert "~/.local/share/jupyter/sandbox/" in text
        for path in re.findall(r"`((?:deploy|binder|examples)/[\w./-]+)`", text):
            assert (ROOT / path).exists(), path
