"""The proxy's header, query and redirect rules (pure functions)."""

from __future__ import annotations

from jupyter_sandbox.server_extension import forwarding

PREFIX = "/sandbox/preview/k1/8000"


def test_strip_token_keeps_everything_else_as_sent():
    assert forwarding.strip_token("a=1&token=abc&b=%C3%A9&tok=2") == "a=1&b=%C3%A9&tok=2"
    assert forwarding.strip_token("token=abc") == ""


def test_strip_cookies_removes_jupyter_cookies_only():
    header = "username-127-0-0-1-8888=x; _xsrf=y; mine=1; login=z"
    assert forwarding.strip_cookies(header, {"login"}) == "mine=1"


def test_request_headers_drop_credentials_and_forged_forwarding():
    out = forwarding.request_headers(
        [("Authorization", "token t"), ("X-Forwarded-Host", "evil"), ("Accept", "*/*"),
         ("Cookie", "_xsrf=1"), ("Connection", "keep-alive"), ("X-XSRFToken", "1")],
        set(), prefix=PREFIX, host="h:1", proto="https", client_ip="10.0.0.1")
    assert out == [("Accept", "*/*"), ("X-Forwarded-Prefix", PREFIX), ("X-Forwarded-Host", "h:1"),
                   ("X-Forwarded-Proto", "https"), ("X-Forwarded-For", "10.0.0.1")]


def test_rewrite_location():
    def rewrite(location: str) -> str:
        return forwarding.rewrite_location(location, prefix=PREFIX, host="h:1", proto="https",
                                           port=8000)

    assert rewrite("/next?a=1") == f"{PREFIX}/next?a=1"
    assert rewrite(f"{PREFIX}/next") == f"{PREFIX}/next"
    assert rewrite("next") == "next"
    assert rewrite("http://localhost:8000/next") == f"https://h:1{PREFIX}/next"
    assert rewrite("https://example.org/x") == "https://example.org/x"
    assert rewrite("//example.org/x") == "//example.org/x"
