"""The kernel's ``network*`` traits → the administrator's NetworkPolicy, refused at start with a
message naming the trait (kernel/network_config.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from jupyter_sandbox.kernel.kernel import SandboxKernel
from jupyter_sandbox.kernel.network_config import NetworkConfigError, policy_from_traits
from jupyter_sandbox.runtime.network.policy import check_address, check_name


class Traits:
    """The network traits of a SandboxKernel, at their defaults (read from the class)."""

    def __init__(self, **values: object) -> None:
        for name, trait in SandboxKernel.class_traits().items():
            if name.startswith("network"):
                setattr(self, name, trait.default())
        for name, value in values.items():
            setattr(self, name, value)


def test_defaults_are_off() -> None:
    policy = policy_from_traits(Traits())  # type: ignore[arg-type]
    assert not policy.enabled and policy.allow == () and policy.max_connections == 64
    assert not check_name(policy, "example.com", 443).allowed


def test_traits_become_the_policy(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    policy = policy_from_traits(Traits(  # type: ignore[arg-type]
        network=True, network_allow=["*.example.com", "127.0.0.1:8080"],
        network_deny=["secret.example.com"], network_max_connections=3,
        network_max_mib_per_cell=5, network_max_mib_per_sandbox=7,
        network_connect_timeout=2.5, network_ca_bundle=str(ca),
        network_inject_headers={"api.example.com": {"Authorization": "Bearer s3cret"}}))
    assert policy.enabled and policy.max_connections == 3
    assert policy.max_bytes_per_cell == 5 << 20 and policy.max_bytes_per_sandbox == 7 << 20
    assert policy.ca_bundle == str(ca) and policy.connect_timeout == 2.5
    assert policy.headers_for("api.example.com", 443) == [("Authorization", "Bearer s3cret")]
    assert "s3cret" not in repr(policy.to_json())
    assert check_address(policy, "localhost", "127.0.0.1", 8080).allowed
    assert not check_name(policy, "secret.example.com", 443).allowed


@pytest.mark.parametrize("values, trait, text", [
    ({"network_allow": ["http://example.com"]}, "network_allow", "rules look like"),
    ({"network_deny": ["10.0.0.1/8"]}, "network_deny", "did you mean 10.0.0.0/8"),
    ({"network_max_connections": 0}, "network_max_connections", "positive"),
    ({"network_max_mib_per_cell": -1}, "network_max_mib_per_cell", "positive"),
    ({"network_connect_timeout": 0.0}, "network_connect_timeout", "positive"),
    ({"network_ca_bundle": "/nonexistent/ca.pem"}, "network_ca_bundle", "is not a file"),
    ({"network_inject_headers": {"api.example.com": {"Bad Header": "v"}}},
     "network_inject_headers", "header name"),
    ({"network_inject_headers": {"api.example.com": {"X-Key": "a\r\nInjected: 1"}}},
     "network_inject_headers", "no CR"),
])
def test_bad_traits_name_the_trait(values: dict, trait: str, text: str) -> None:
    with pytest.raises(NetworkConfigError) as info:
        policy_from_traits(Traits(network=True, **values))  # type: ignore[arg-type]
    message = str(info.value)
    assert f"SandboxKernel.{trait} is invalid" in message and text in message
    assert "restart the kernel" in message
    assert "Injected" not in message  # a header value (a secret) is never echoed


def test_a_real_kernel_with_a_bad_rule_says_which_trait(tmp_path: Path) -> None:
    """The traits are checked when the sandbox starts: a bad rule never becomes a silently
    open or closed network; every cell says which trait to fix."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_sandbox_kernel_config.py").write_text(
        "c.SandboxKernel.network = True\n"
        "c.SandboxKernel.network_allow = ['https://api.example.com/v1']\n")
    km, kc = start_new_kernel(kernel_name="sandboxed-python", cwd=str(tmp_path),
                              env={**os.environ, "JUPYTER_CONFIG_DIR": str(config)})
    try:
        outputs: list[dict] = []
        reply = kc.execute_interactive("1 + 1", output_hook=outputs.append, timeout=120)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    content = reply["content"]
    text = content.get("evalue", "") + "".join(
        str(m["content"].get("text", "")) + str(m["content"].get("evalue", "")) for m in outputs)
    assert content["status"] == "error"
    assert "SandboxKernel.network_allow is invalid" in text
    assert "'https://api.example.com/v1'" in text and "rules look like" in text
