"""The network policy (runtime/network/policy.py): rule parsing of hostile strings, deny over
allow, and the SSRF boundary — special addresses in every spelling refused unless an allow rule
names the address itself."""

from __future__ import annotations

import ipaddress
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_sandbox.runtime.network.policy import (
    NETWORK_OFF,
    NETWORK_OFF_BY_API,
    NetworkPolicy,
    canonical_host,
    check_address,
    check_name,
    narrowed,
    parse_rule,
    special_range,
)

ON = NetworkPolicy(enabled=True)


# -- off by default -------------------------------------------------------------------------

def test_off_by_default_refuses_everything_naming_the_trait() -> None:
    policy = NetworkPolicy()
    for decision in (check_name(policy, "example.com", 443),
                     check_address(policy, "example.com", "93.184.216.34", 443)):
        assert not decision.allowed
        assert decision.reason == NETWORK_OFF
        assert "SandboxKernel.network = True" in decision.reason


def test_on_without_allow_list_allows_public_addresses_only() -> None:
    assert check_name(ON, "example.com", 443).allowed
    assert check_address(ON, "example.com", "93.184.216.34", 443).allowed
    assert check_address(ON, "example.com", "2606:2800:220:1:248:1893:25c8:1946", 443).allowed


# -- special addresses ----------------------------------------------------------------------

SPECIAL = {
    "127.0.0.1": "loopback", "127.255.0.9": "loopback", "::1": "loopback",
    "10.1.2.3": "private", "172.16.0.1": "private", "192.168.1.1": "private",
    "fd12::1": "private", "100.64.0.1": "shared",
    "169.254.169.254": "metadata", "fd00:ec2::254": "metadata", "100.100.100.200": "metadata",
    "169.254.1.1": "link-local", "fe80::1": "link-local",
    "224.0.0.1": "multicast", "ff02::1": "multicast",
    "0.0.0.0": "unspecified", "0.1.2.3": "unspecified", "::": "unspecified",
    "255.255.255.255": "broadcast", "240.0.0.1": "reserved", "192.0.2.1": "reserved",
    "2001:db8::1": "reserved",
    # IPv6 wrappings of internal IPv4 addresses
    "::ffff:127.0.0.1": "loopback", "::ffff:7f00:1": "loopback", "::127.0.0.1": "loopback",
    "::ffff:0:a00:1": "private", "::ffff:169.254.169.254": "metadata",
    "2002:7f00:1::": "loopback", "2002:a9fe:a9fe::1": "metadata",
    "64:ff9b::7f00:1": "loopback", "64:ff9b::a9fe:a9fe": "metadata",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "reserved",   # Teredo
}


@pytest.mark.parametrize("address, kind", sorted(SPECIAL.items()))
def test_special_addresses_refused_with_the_network_on(address: str, kind: str) -> None:
    decision = check_address(ON, "some.example.com", address, 80)
    assert not decision.allowed
    assert kind in decision.reason
    assert "refused unless an allow rule names it" in decision.reason


@pytest.mark.parametrize("address", sorted(SPECIAL))
def test_a_host_name_rule_never_allows_a_special_address(address: str) -> None:
    """DNS rebinding: the name's owner decides what it resolves to, not the administrator."""
    policy = NetworkPolicy(enabled=True, allow=("localhost", "*.example.com", "*", "*:80"))
    assert check_name(policy, "rebind.example.com", 80).allowed
    assert not check_address(policy, "rebind.example.com", address, 80).allowed
    assert not check_address(policy, "localhost", address, 80).allowed


@pytest.mark.parametrize("rule", ["0.0.0.0/0", "::/0", "0.0.0.0/1", "126.0.0.0/7", "::/1"])
def test_broad_ranges_do_not_count_as_explicit(rule: str) -> None:
    policy = NetworkPolicy(enabled=True, allow=(rule,))
    assert not check_address(policy, "x", "127.0.0.1", 80).allowed
    assert not check_address(policy, "x", "::1", 80).allowed
    assert not check_address(policy, "x", "169.254.169.254", 80).allowed


def test_explicit_address_rules_allow_special_addresses_on_their_port() -> None:
    policy = NetworkPolicy(enabled=True, allow=("127.0.0.1:8080", "10.1.0.0/16", "[::1]:80"))
    allowed = check_address(policy, "localhost", "127.0.0.1", 8080)
    assert allowed.allowed and allowed.rule == "127.0.0.1:8080"
    assert "loopback" in allowed.reason
    assert not check_address(policy, "localhost", "127.0.0.1", 8081).allowed
    assert check_address(policy, "db", "10.1.200.3", 5432).allowed
    assert not check_address(policy, "db", "10.2.0.1", 5432).allowed
    assert check_address(policy, "x", "::1", 80).allowed
    # the mapped spelling of an allowed address is that address
    assert check_address(policy, "x", "::ffff:127.0.0.1", 8080).allowed


def test_metadata_is_its_own_range() -> None:
    link_local = NetworkPolicy(enabled=True, allow=("169.254.0.0/16",))
    assert check_address(link_local, "x", "169.254.1.1", 80).allowed
    refused = check_address(link_local, "x", "169.254.169.254", 80)
    assert not refused.allowed and "metadata" in refused.reason
    named = NetworkPolicy(enabled=True, allow=("169.254.169.254",))
    assert check_address(named, "x", "169.254.169.254", 80).allowed


def test_public_nat64_and_6to4_pass_and_carry_rules() -> None:
    assert check_address(ON, "x", "64:ff9b::5db8:d822", 443).allowed   # 93.184.216.34
    assert check_address(ON, "x", "2002:5db8:d822::1", 443).allowed
    deny = NetworkPolicy(enabled=True, deny=("93.184.216.0/24",))
    assert not check_address(deny, "x", "64:ff9b::5db8:d822", 443).allowed
    assert not check_address(deny, "x", "::ffff:93.184.216.34", 443).allowed


@given(st.ip_addresses())
@settings(max_examples=400, deadline=None)
def test_every_non_global_address_is_refused_in_every_spelling(ip: object) -> None:
    address = ipaddress.ip_address(ip)  # type: ignore[arg-type]
    spellings = [str(address)]
    if address.version == 4:
        spellings += [f"::ffff:{address}", str(ipaddress.IPv6Address(
            (0xFFFF << 32) | int(address)))]
    for text in spellings:
        decision = check_address(ON, "host.example.com", text, 443)
        inside = ipaddress.ip_address(text)
        reached = (inside.ipv4_mapped if isinstance(inside, ipaddress.IPv6Address)
                   and inside.ipv4_mapped else inside)
        if not reached.is_global or special_range(reached) is not None:
            assert not decision.allowed, (text, decision)


@given(st.ip_addresses(v=4))
@settings(max_examples=300, deadline=None)
def test_numeric_host_forms_are_read_as_the_host_resolver_reads_them(ip: object) -> None:
    """``2130706433``, ``0x7f.0x0.0.1``, ``0177.0.0.1``, ``127.1`` are what ``inet_aton`` (and
    so the host's ``getaddrinfo``) turns into 127.0.0.1: check_name must see that address."""
    address = ipaddress.IPv4Address(ip)  # type: ignore[arg-type]
    number = int(address)
    octets = address.packed
    forms = [str(number), hex(number), ".".join(hex(b) for b in octets),
             ".".join(f"0{b:o}" for b in octets), f"{octets[0]}.{number & 0xFFFFFF}",
             f"{octets[0]}.{octets[1]}.{number & 0xFFFF}", f"{address}."]
    for form in forms:
        assert socket.inet_aton(form.rstrip(".")) == octets, form
        assert canonical_host(form) == address, form
        assert canonical_host(form.upper()) == address, form


@pytest.mark.parametrize("host", [
    "2130706433", "0x7f000001", "0x7f.1", "0177.0.0.1", "127.1", "127.0.1", "0x7F.0.0.1",
    "127.0.0.1.", "[::1]", "::1", "[::ffff:127.0.0.1]", "１２７．０．０．１", "127。0。0。1",
    "0", "0.0.0.0", "017700000001", "[::]",
])
def test_check_name_refuses_numeric_loopback_forms(host: str) -> None:
    policy = NetworkPolicy(enabled=True, allow=("*",))
    decision = check_name(policy, host, 80)
    assert not decision.allowed
    assert "loopback" in decision.reason or "unspecified" in decision.reason


@pytest.mark.parametrize("host", [
    "1.2.3.4.5", "256.0.0.1", "1.2.3.0x100", "09.1.1.1", "example.123", "a..b", "",
    "exa mple.com", "ex\x00ample.com", "a/b", "a@b", "user:pass@host", "-x-.com", "x" * 64 + ".com",
    "fe80::1%25eth0", "[fe80::1%eth0]", "\u202eexample.com", "xn--.com",
])
def test_bad_hosts_are_refused_with_a_reason(host: str) -> None:
    decision = check_name(ON, host, 80)
    assert not decision.allowed
    assert decision.reason


def test_names_are_compared_lowercased_idna_without_trailing_dot() -> None:
    policy = NetworkPolicy(enabled=True, allow=("api.example.com:443", "*.bücher.de"))
    for host in ("API.Example.COM", "api.example.com.", "ａｐｉ.example.com", "api。example。com"):
        assert check_name(policy, host, 443).allowed, host
        assert check_address(policy, host, "93.184.216.34", 443).allowed, host
    assert check_name(policy, "shop.xn--bcher-kva.de", 80).allowed
    assert check_name(policy, "Shop.BÜCHER.de", 80).allowed
    assert not check_name(policy, "api.example.com", 80).allowed
    assert not check_name(policy, "api.example.com.evil.net", 443).allowed
    assert not check_name(policy, "bücher.de", 80).allowed   # *.x does not match x itself


# -- allow, deny, ports -----------------------------------------------------------------------

def test_deny_wins_over_allow_and_names_the_rule() -> None:
    policy = NetworkPolicy(enabled=True, allow=("*.example.com", "93.184.216.0/24"),
                           deny=("secret.example.com", "93.184.216.34:22"))
    decision = check_name(policy, "SECRET.example.com.", 443)
    assert not decision.allowed and decision.rule == "secret.example.com"
    assert "deny rule 'secret.example.com'" in decision.reason
    assert check_address(policy, "x", "93.184.216.34", 443).allowed
    ssh = check_address(policy, "x", "93.184.216.34", 22)
    assert not ssh.allowed and "deny rule '93.184.216.34:22'" in ssh.reason
    # a deny rule for a name also applies when that name reaches an allowed address
    assert not check_address(policy, "secret.example.com", "93.184.216.1", 443).allowed


def test_deny_address_rules_catch_names_at_connect_time() -> None:
    policy = NetworkPolicy(enabled=True, deny=("93.184.216.0/24",))
    assert check_name(policy, "example.com", 443).allowed
    decision = check_address(policy, "example.com", "93.184.216.34", 443)
    assert not decision.allowed and "93.184.216.0/24" in decision.reason


def test_allow_list_refuses_others_and_lists_them() -> None:
    policy = NetworkPolicy(enabled=True, allow=("pypi.org:443",))
    decision = check_name(policy, "evil.com", 443)
    assert not decision.allowed and "no allow rule matches evil.com:443" in decision.reason
    assert "'pypi.org:443'" in decision.reason
    assert not check_address(policy, "evil.com", "93.184.216.34", 443).allowed
    # an address literal is not matched by a name rule
    assert not check_name(policy, "151.101.0.223", 443).allowed


def test_check_name_defers_to_the_address_when_address_rules_exist() -> None:
    policy = NetworkPolicy(enabled=True, allow=("127.0.0.1:8080",))
    assert check_name(policy, "localhost", 8080).allowed
    assert check_address(policy, "localhost", "127.0.0.1", 8080).allowed
    assert not check_name(policy, "localhost", 8081).allowed


def test_star_port_rule() -> None:
    policy = NetworkPolicy(enabled=True, allow=("*:443",))
    assert check_address(policy, "example.com", "93.184.216.34", 443).allowed
    assert not check_address(policy, "example.com", "93.184.216.34", 80).allowed


@pytest.mark.parametrize("address", ["not-an-ip", "", "0x7f.1", "2130706433", "127.1",
                                     "0177.0.0.1", "1.2.3.4 ", "1.2.3"])
def test_check_address_refuses_anything_but_canonical_addresses(address: str) -> None:
    decision = check_address(NetworkPolicy(enabled=True, allow=("*",)), "x", address, 80)
    assert not decision.allowed or ipaddress.ip_address(address.strip()).is_global


@pytest.mark.parametrize("port", [0, -1, 65536, True, "80"])
def test_bad_ports_are_refused(port: object) -> None:
    assert not check_name(ON, "example.com", port).allowed  # type: ignore[arg-type]
    assert not check_address(ON, "example.com", "93.184.216.34", port).allowed  # type: ignore


# -- parsing untrusted rules ----------------------------------------------------------------

@pytest.mark.parametrize("rule, message", [
    ("", "empty network rule"), ("   ", "empty network rule"),
    ("10.0.0.1/8", "did you mean 10.0.0.0/8"), ("host:0", "1-65535"), ("host:65536", "1-65535"),
    ("host:http", "1-65535"), ("[::1", "without ']'"), ("[::1]x", "only ':PORT'"),
    ("[example.com]:80", "brackets are for IPv6"), ("http://example.com", "rules look like"),
    ("a b", "no spaces"), ("a\nb", "no spaces"), ("*.1", "wildcards only go in host names"),
    ("x" * 400, "longer than"), ("1.2.3.4.5", "not an IPv4"), ("a..b", "bad host"),
    (":80", "no host"), ("[*]:1", "brackets"), ("*.[a].com", "bad host"),
    ("*a[b].com", "wildcard label"),
    ("fe80::1%eth0", "zone ids"), ("[fe80::1%25eth0]:80", "zone ids"),
    ("10.0.0.0/33", "bad network rule"), ("a:b:c", "bad network rule"), ("host:١٢", "1-65535"),
])
def test_bad_rules_raise_value_error_with_a_clear_message(rule: str, message: str) -> None:
    with pytest.raises(ValueError, match="network rule|rule") as info:
        parse_rule(rule)
    assert message in str(info.value)
    with pytest.raises(ValueError):
        NetworkPolicy(enabled=True, allow=(rule,))


@pytest.mark.parametrize("value", [None, 5, b"x", ["a"], {"a": 1}])
def test_non_string_rules_raise_value_error(value: object) -> None:
    with pytest.raises(ValueError, match="must be a string"):
        parse_rule(value)


@given(st.text(max_size=60))
@settings(max_examples=500, deadline=None)
def test_arbitrary_rule_strings_parse_or_raise_value_error_only(text: str) -> None:
    try:
        rule = parse_rule(text)
    except ValueError:
        return
    assert rule.pattern is not None or rule.network is not None


@given(st.text(max_size=60), st.integers(min_value=1, max_value=65535))
@settings(max_examples=500, deadline=None)
def test_arbitrary_hosts_never_raise_from_checks(host: str, port: int) -> None:
    policy = NetworkPolicy(enabled=True, allow=("*.example.com", "127.0.0.1:8080"))
    check_name(policy, host, port)
    check_address(policy, host, "127.0.0.1", port)


def test_mapped_rules_are_their_ipv4_range() -> None:
    assert str(parse_rule("::ffff:10.0.0.0/104").network) == "10.0.0.0/8"


# -- JSON and narrowing -----------------------------------------------------------------------

def test_json_round_trip_hides_injected_header_values() -> None:
    policy = NetworkPolicy(enabled=True, allow=("api.example.com:443",), deny=("10.0.0.0/8",),
                           max_connections=4, inject_headers=(("api.example.com", "Authorization",
                                                               "Bearer s3cret"),))
    data = policy.to_json()
    assert "s3cret" not in repr(data) and "s3cret" not in repr(policy)
    assert "s3cret" not in repr(narrowed(policy, {}))
    assert data["inject_headers"] == [{"host": "api.example.com", "header": "Authorization"}]
    again = NetworkPolicy.from_json({k: v for k, v in data.items() if k != "inject_headers"})
    assert again.allow == policy.allow and again.max_connections == 4
    assert policy.headers_for("API.example.com.", 443) == [("Authorization", "Bearer s3cret")]
    assert policy.headers_for("other.example.com", 443) == []


@pytest.mark.parametrize("data, message", [
    ([], "JSON object"), ({"enabled": "yes"}, "true or false"), ({"allow": "a.com"}, "list"),
    ({"allow": [1]}, "must be a string"), ({"max_connections": 0}, "positive integer"),
    ({"max_connections": True}, "positive integer"), ({"max_bytes_per_cell": 1.5}, "integer"),
    ({"connect_timeout": float("nan")}, "positive number"), ({"bogus": 1}, "unknown"),
    ({"inject_headers": [{"host": "a.com", "header": "X\r\nY", "value": "v"}]}, "header name"),
    ({"inject_headers": [{"host": "a.com", "header": "X", "value": "a\r\nb"}]}, "no CR"),
    ({"allow": ["x"] * 1001}, "too many"),
])
def test_from_json_refuses_bad_bodies(data: object, message: str) -> None:
    with pytest.raises(ValueError) as info:
        NetworkPolicy.from_json(data)  # type: ignore[arg-type]
    assert message in str(info.value)


def test_narrowing_cannot_widen_the_administrators_policy() -> None:
    admin = NetworkPolicy(enabled=True, allow=("*.example.com", "127.0.0.1:8080"),
                          deny=("bad.example.com",), max_connections=8,
                          inject_headers=(("api.example.com", "X-Key", "k"),))
    api = narrowed(admin, {"allow": ["api.example.com", "other.org", "127.0.0.0/8"],
                           "deny": ["x.example.com"], "max_connections": 2})
    assert api.max_connections == 2 and api.inject_headers == admin.inject_headers
    assert check_name(api, "api.example.com", 443).allowed
    assert not check_address(api, "www.example.com", "93.184.216.34", 443).allowed  # API's list
    refused = check_name(api, "other.org", 443)                         # the admin's allow list
    assert not refused.allowed and "administrator" in refused.reason
    assert not check_name(api, "x.example.com", 443).allowed
    assert not check_address(api, "x", "127.0.0.1", 9000).allowed      # admin named 8080 only
    assert check_address(api, "x", "127.0.0.1", 8080).allowed
    # without an allow list of its own, the API layer leaves special addresses to the admin
    denied = narrowed(admin, {"deny": ["x.example.com"]})
    assert check_address(denied, "x", "127.0.0.1", 8080).allowed
    assert not check_address(denied, "x", "127.0.0.1", 8081).allowed
    assert not check_address(denied, "x.example.com", "93.184.216.34", 443).allowed
    # with one, a name it allows never reaches a special address the admin names
    named = narrowed(admin, {"allow": ["api.example.com"]})
    assert not check_address(named, "api.example.com", "127.0.0.1", 8080).allowed
    off = narrowed(admin, {"enabled": False})
    assert check_name(off, "api.example.com", 443).reason == NETWORK_OFF_BY_API
    # narrowing again starts from the administrator's policy, not from the last API one
    again = narrowed(api, {"enabled": True})
    assert check_name(again, "www.example.com", 443).allowed
    assert again.to_json()["administrator"]["allow"] == list(admin.allow)


@pytest.mark.parametrize("request_body, message", [
    ({"enabled": True}, "cannot turn it on"),
])
def test_narrowing_cannot_turn_on_an_off_network(request_body: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        narrowed(NetworkPolicy(), request_body)


@pytest.mark.parametrize("request_body, message", [
    ({"max_connections": 100}, "may only lower"), ({"ca_bundle": "/etc/passwd"}, "administrator"),
    ({"inject_headers": []}, "administrator"), ({"connect_timeout": 999}, "administrator"),
    ({"allow": ["bad rule"]}, "no spaces"),
])
def test_narrowing_refuses_widening_and_admin_only_fields(request_body: dict, message: str) -> None:
    admin = NetworkPolicy(enabled=True, max_connections=8,
                          inject_headers=(("api.example.com", "X-Key", "k"),))
    with pytest.raises(ValueError, match=message):
        narrowed(admin, request_body)


def test_get_then_put_round_trips_through_narrowing() -> None:
    admin = NetworkPolicy(enabled=True, allow=("*.example.com",), ca_bundle="/etc/ca.pem",
                          inject_headers=(("api.example.com", "X-Key", "k"),))
    current = narrowed(admin, {}).to_json()
    current["deny"] = ["a.example.com"]
    changed = narrowed(admin, current)
    assert changed.deny == ("a.example.com",) and changed.ca_bundle == "/etc/ca.pem"


@pytest.mark.parametrize("host", ["ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "LOCALHOST.", " localhost ", "ｌｏｃａｌｈｏｓｔ",
                                  "localhost"])
def test_a_deny_rule_for_a_name_holds_in_every_spelling(host: str) -> None:
    policy = NetworkPolicy(enabled=True, deny=("localhost",))
    decision = check_name(policy, host, 80)
    assert not decision.allowed and decision.rule == "localhost"


@pytest.mark.parametrize("host", ["[::FFFF:7F00:1]", "::FFFF:127.0.0.1", " 127.0.0.1 ",
                                  "127.0.0.01", "[0:0:0:0:0:ffff:127.0.0.1]", "0X7F.1"])
def test_more_loopback_spellings_are_the_loopback_address(host: str) -> None:
    assert canonical_host(host) == ipaddress.IPv4Address("127.0.0.1")
    assert not check_name(NetworkPolicy(enabled=True, allow=("*",)), host, 80).allowed


_RULES = st.sampled_from([
    "*", "*:443", "example.com", "*.example.com", "api.example.com:443", "127.0.0.1",
    "127.0.0.1:8080", "127.0.0.0/8", "10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0", "::/0", "[::1]:80",
    "169.254.169.254", "169.254.0.0/16", "93.184.216.0/24", "93.184.216.34:443", "fd00::/8",
    "localhost", "secret.example.com"])
_HOSTS = st.sampled_from(["example.com", "api.example.com", "secret.example.com", "localhost",
                          "evil.org", "127.0.0.1", "10.1.2.3", "[::1]", "169.254.169.254"])


@given(admin_allow=st.lists(_RULES, max_size=4), admin_deny=st.lists(_RULES, max_size=2),
       api_allow=st.lists(_RULES, max_size=4), api_deny=st.lists(_RULES, max_size=2),
       host=_HOSTS, address=st.ip_addresses(), port=st.sampled_from([80, 443, 8080, 22]))
@settings(max_examples=1500, deadline=None)
def test_narrowing_never_allows_what_the_administrator_refuses(
        admin_allow: list[str], admin_deny: list[str], api_allow: list[str],
        api_deny: list[str], host: str, address: object, port: int) -> None:
    admin = NetworkPolicy(enabled=True, allow=tuple(admin_allow), deny=tuple(admin_deny))
    api = narrowed(admin, {"allow": api_allow, "deny": api_deny})
    text = str(address)
    if check_address(api, host, text, port).allowed:
        assert check_address(admin, host, text, port).allowed
    if check_name(api, host, port).allowed:
        assert check_name(admin, host, port).allowed


_NAME_OR_BROAD = st.sampled_from(["*", "*:80", "example.com", "*.example.com", "localhost",
                                  "0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/1", "::/1"])


@given(allow=st.lists(_NAME_OR_BROAD, max_size=5), host=_HOSTS, address=st.ip_addresses(),
       port=st.sampled_from([80, 443]))
@settings(max_examples=1500, deadline=None)
def test_no_name_rule_or_broad_range_ever_reaches_a_special_address(
        allow: list[str], host: str, address: object, port: int) -> None:
    """The SSRF boundary as a property: without a rule naming the address, no special address
    (in any IPv6 wrapping) is reachable, whatever names and broad ranges are allowed."""
    ip = ipaddress.ip_address(address)  # type: ignore[arg-type]
    reached: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None or (int(ip) >> 32 == 0 and int(ip) > 1):
            # mapped (::ffff:a.b.c.d) and compatible (::a.b.c.d) forms are the IPv4 address
            reached = [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
        elif ip.sixtofour is not None:
            reached.append(ip.sixtofour)
    if any(special_range(a) is not None for a in reached):
        policy = NetworkPolicy(enabled=True, allow=tuple(allow))
        assert not check_address(policy, host, str(ip), port).allowed
