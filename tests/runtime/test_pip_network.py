"""``%pip`` and the network policy (issue 16, item 5; runtime/pip_network.py): where the
administrator turned the network on with rules, the index pip uses must match no deny rule,
and locations a cell names must pass the whole name check."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_sandbox.runtime.config import PackagePolicy, SandboxConfig
from jupyter_sandbox.runtime.errors import PackageError
from jupyter_sandbox.runtime.network.policy import NetworkPolicy, narrowed
from jupyter_sandbox.runtime.pip_network import (
    PIP_DEFAULT_INDEX,
    administrator_index,
    check_locations,
)
from jupyter_sandbox.runtime.sandbox import Sandbox
from tests.conftest import stream_text
from tests.wheels import build_test_wheels


def test_off_or_without_rules_nothing_is_checked() -> None:
    for policy in (NetworkPolicy(deny=("pypi.org",)), NetworkPolicy(enabled=True)):
        check_locations(policy, PIP_DEFAULT_INDEX, ["http://169.254.169.254/simple"])


def test_the_administrators_index_must_match_no_deny_rule(monkeypatch) -> None:
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    assert administrator_index(None) == "https://pypi.org/simple"
    denied = NetworkPolicy(enabled=True, deny=("pypi.org:443",))
    with pytest.raises(PackageError, match=r"the package index https://pypi.org/simple is "
                                           r"refused .*deny rule 'pypi.org:443'"):
        check_locations(denied, administrator_index(None), [])
    check_locations(denied, "http://pypi.org/simple", [])     # port 80: not that rule
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example.com/simple")
    check_locations(denied, administrator_index(None), [])
    # the allow list and special ranges are for the guest, not for the admin's own index
    allow_only = NetworkPolicy(enabled=True, allow=("api.example.com",))
    check_locations(allow_only, "http://127.0.0.1:3141/root/pypi", [])
    with pytest.raises(PackageError, match="deny rule '127.0.0.0/8'"):
        check_locations(NetworkPolicy(enabled=True, deny=("127.0.0.0/8",)),
                        "http://0x7f.1:3141/simple", [])


@pytest.mark.parametrize("allow, url, reason", [
    (("*.example.com",), "https://evil.example.org/simple",
     "no allow rule matches evil.example.org:443"),
    ((), "http://169.254.169.254/latest/", "cloud metadata address"),
    ((), "http://2130706433:80/simple", "loopback address"),
    (("*",), "http://[::ffff:10.0.0.1]/simple", "private address"),
    (("*.example.com",), "https://files.example.com/x-1.0-py3-none-any.whl",
     "deny rule 'files.example.com'"),
])
def test_locations_a_cell_names_get_the_whole_name_check(allow: tuple[str, ...], url: str,
                                                         reason: str) -> None:
    policy = NetworkPolicy(enabled=True, allow=allow, deny=("files.example.com",))
    with pytest.raises(PackageError, match="is refused by the sandbox's network policy") as info:
        check_locations(policy, None, [url])
    assert reason in str(info.value)
    check_locations(policy, None, ["https://pypi.example.com/simple", "file:///wheels"])


def test_a_narrowed_policy_counts_with_its_ceiling() -> None:
    admin = NetworkPolicy(enabled=True, deny=("bad.example.com",))
    api = narrowed(admin, {"deny": ["pypi.org"]})
    with pytest.raises(PackageError, match="deny rule 'pypi.org'"):
        check_locations(api, PIP_DEFAULT_INDEX, [])
    with pytest.raises(PackageError, match="deny rule 'bad.example.com'"):
        check_locations(narrowed(admin, {}), "https://bad.example.com/simple", [])


def _refused(sandbox: Sandbox, code: str) -> str:
    messages: list[dict] = []
    reply = sandbox.execute(code, messages.append)
    assert reply.status == "error", messages
    return reply.evalue


def test_pip_in_a_sandbox_follows_its_network_policy(tmp_path: Path) -> None:
    build_test_wheels(tmp_path / "wheels")
    policy = NetworkPolicy(enabled=True, deny=("127.0.0.1",))
    config = SandboxConfig(host_folder=tmp_path, network=policy,
                           packages=PackagePolicy(user_indexes=True))
    with Sandbox(config) as sandbox:
        refused = _refused(sandbox, "%pip install -i http://127.0.0.1:9/simple tinybase")
        assert refused.startswith("%pip refused: http://127.0.0.1:9/simple is refused by the "
                                  "sandbox's network policy (deny rule '127.0.0.1'")
        refused = _refused(sandbox, "%pip install -f http://127.0.0.1:9/links tinybase")
        assert "deny rule '127.0.0.1'" in refused
        # local wheels need no network: installed as before
        messages: list[dict] = []
        reply = sandbox.execute("%pip install --no-index -f /workspace/wheels tinybase",
                                messages.append)
        assert reply.status == "ok", messages
        assert "Successfully installed tinybase" in stream_text(messages)
        # a rule added at runtime (PUT /network) holds for the next %pip too
        sandbox.set_network_policy(narrowed(policy, {"deny": ["pypi.org"]}))
        assert "deny rule 'pypi.org'" in _refused(sandbox, "%pip install tinyother")


def test_the_administrators_index_denied_by_the_policy(tmp_path: Path) -> None:
    config = SandboxConfig(network=NetworkPolicy(enabled=True, deny=("127.0.0.0/8",)),
                           packages=PackagePolicy(index_url="http://127.0.0.1:9/simple"))
    with Sandbox(config) as sandbox:
        refused = _refused(sandbox, "%pip install tinybase")
        assert refused.startswith("%pip refused: the package index http://127.0.0.1:9/simple "
                                  "is refused by the sandbox's network policy (deny rule "
                                  "'127.0.0.0/8'")
        assert "SandboxKernel.pip_index_url" in refused
