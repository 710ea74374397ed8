"""The proxy's header, query, path and redirect rules (pure functions), in both modes: the
shared Jupyter origin and a preview origin of its own."""

from __future__ import annotations

from jupyter_sandbox.server_extension.previews import forwarding

PREFIX = "/sandbox/preview/k1/8000"
SHARED = forwarding.ForwardingRules(prefix=PREFIX, host="h:1", proto="https",
                                    client_ip="10.0.0.1", shared_origin=True,
                                    jupyter_cookies=frozenset({"login"}), jupyter_token="jt")
OWN = forwarding.ForwardingRules(prefix="", host="8000-k1.localhost:1", proto="https",
                                 client_ip="10.0.0.1", shared_origin=False,
                                 jupyter_cookies=frozenset({"login"}), jupyter_token="jt")


def test_strip_token_keeps_everything_else_as_sent():
    assert forwarding.strip_token("a=1&token=abc&b=%C3%A9&tok=2") == "a=1&b=%C3%A9&tok=2"
    assert forwarding.strip_token("token=abc") == ""
    assert forwarding.strip_token("%74oken=abc&x") == "x"


def test_strip_cookies_removes_jupyter_cookies_and_the_preview_credential():
    header = "username-127-0-0-1-8888=x; _xsrf=y; mine=1; login=z; jupyter-sandbox-preview=s"
    assert forwarding.strip_cookies(header, {"login"}) == "mine=1"


def test_request_headers_drop_credentials_and_forged_forwarding():
    out = forwarding.request_headers(
        [("Authorization", "token t"), ("X-Forwarded-Host", "evil"), ("Accept", "*/*"),
         ("Cookie", "_xsrf=1; mine=2"), ("Connection", "keep-alive"), ("X-XSRFToken", "1"),
         ("Referer", "https://h:1/lab?token=jt")], SHARED)
    assert out == [("Accept", "*/*"), ("X-Forwarded-Prefix", PREFIX), ("X-Forwarded-Host", "h:1"),
                   ("X-Forwarded-Proto", "https"), ("X-Forwarded-For", "10.0.0.1")]


def test_shared_origin_forwards_no_cookie_and_no_authorization_at_all():
    out = dict(forwarding.request_headers(
        [("Cookie", "mine=1"), ("Authorization", "Basic dTpw")], SHARED))
    assert "Cookie" not in out and "Authorization" not in out


def test_preview_origin_forwards_the_apps_own_credentials_only():
    def sent(*items: tuple[str, str]) -> dict[str, str]:
        return dict(forwarding.request_headers(list(items), OWN))

    assert sent(("Cookie", "mine=1; jupyter-sandbox-preview=s; _xsrf=x"))["Cookie"] == "mine=1"
    assert "Cookie" not in sent(("Cookie", "jupyter-sandbox-preview=s"))
    assert sent(("Authorization", "Basic dTpw"))["Authorization"] == "Basic dTpw"
    for jupyters in ("token abc", "Bearer abc", "TOKEN abc", "Basic jt"):
        assert "Authorization" not in sent(("Authorization", jupyters)), jupyters
    own = "https://8000-k1.localhost:1/page?q=1"
    assert sent(("Referer", own))["Referer"] == own
    assert "Referer" not in sent(("Referer", "https://h:1/lab?token=jt"))
    assert sent()["X-Forwarded-Prefix"] == ""


def test_upstream_path_keeps_the_browsers_bytes():
    # tornado gives the request line's bytes as latin-1 text.
    raw_utf8 = "/hello/wörld".encode().decode("latin-1")
    assert forwarding.upstream_path(raw_utf8) == "/hello/wörld"
    assert forwarding.upstream_path("/caf%C3%A9/a%2Fb") == "/caf%C3%A9/a%2Fb"
    assert forwarding.upstream_path(b"/x\xff".decode("latin-1")) == "/x%FF"
    assert forwarding.upstream_path("/a\x7fb\x01") == "/a%7Fb%01"


def test_rewrite_location():
    def rewrite(location: str, prefix: str = PREFIX) -> str:
        return forwarding.rewrite_location(location, prefix=prefix, host="h:1", proto="https",
                                           port=8000)

    assert rewrite("/next?a=1") == f"{PREFIX}/next?a=1"
    assert rewrite(f"{PREFIX}/next") == f"{PREFIX}/next"
    assert rewrite("next") == "next"
    assert rewrite("http://localhost:8000/next") == f"https://h:1{PREFIX}/next"
    assert rewrite("https://example.org/x") == "https://example.org/x"
    assert rewrite("//example.org/x") == "//example.org/x"
    assert rewrite("/next", prefix="") == "/next"
    assert rewrite("http://localhost:8000/next", prefix="") == "https://h:1/next"


def _response(items, shared: bool) -> forwarding.ResponseHeaders:
    return forwarding.response_headers(items, prefix=PREFIX if shared else "", host="h:1",
                                       proto="https", port=8000, shared_origin=shared)


def test_shared_origin_response_is_sandboxed_and_sets_no_cookie():
    out = _response([("Set-Cookie", "a=1"), ("Content-Security-Policy",
                                             "sandbox allow-same-origin allow-scripts"),
                     ("Clear-Site-Data", '"cookies"'), ("Content-Type", "text/html")], True)
    assert out.dropped_cookies is True
    # Exactly these remain, in order: Set-Cookie and Clear-Site-Data are gone; the app's policy
    # stays (the handler adds the sandbox beside it: both are enforced).
    assert out.items == [("Content-Security-Policy", "sandbox allow-same-origin allow-scripts"),
                         ("Content-Type", "text/html")]
    others = _response([("Set-Cookie2", "b=2"), ("Service-Worker-Allowed", "/"),
                        ("Referrer-Policy", "unsafe-url"), ("Connection", "close"),
                        ("X-App", "kept")], True)
    assert others.items == [("X-App", "kept")]
    assert others.dropped_cookies is True  # Set-Cookie2 is a cookie too
    # Dropping what is not a cookie (Clear-Site-Data, ...) is not reported as dropped cookies.
    no_cookie = _response([("Clear-Site-Data", '"cookies"'), ("Referrer-Policy", "unsafe-url"),
                           ("Content-Type", "text/plain")], True)
    assert no_cookie.items == [("Content-Type", "text/plain")]
    assert no_cookie.dropped_cookies is False


def test_preview_origin_response_keeps_the_apps_cookies_host_only():
    out = _response([("Set-Cookie", "a=1; Domain=localhost; Path=/; HttpOnly"),
                     ("Set-Cookie", "jupyter-sandbox-preview=forged; Path=/"),
                     ("Content-Type", "text/html")], False)
    assert out.items == [("Set-Cookie", "a=1; Path=/; HttpOnly"), ("Content-Type", "text/html")]
    assert not out.dropped_cookies


def test_redirects_of_an_app_below_a_capability_stay_below_it():
    capability = f"{PREFIX}/~{'c' * 43}"

    def rewrite(location: str) -> str:
        return forwarding.rewrite_location(location, prefix=capability, host="h:1",
                                           proto="https", port=8000, link_prefix=PREFIX)

    assert rewrite("/next?a=1") == f"{capability}/next?a=1"  # the app ignored SCRIPT_NAME
    assert rewrite(f"{capability}/next") == f"{capability}/next"  # it used it
    assert rewrite(f"{PREFIX}/next") == f"{capability}/next"  # configured with the link's path
    assert rewrite(PREFIX) == capability
    assert rewrite("next") == "next"
    assert rewrite(f"https://h:1{PREFIX}/next") == f"https://h:1{capability}/next"
    assert rewrite("http://localhost:8000/next") == f"https://h:1{capability}/next"
    assert rewrite("https://example.org/sandbox/preview/k1/8000/x") == (
        "https://example.org/sandbox/preview/k1/8000/x")
    out = forwarding.response_headers([("Location", f"{PREFIX}/x")], prefix=capability,
                                      host="h:1", proto="https", port=8000, link_prefix=PREFIX)
    assert out.items == [("Location", f"{capability}/x")]


def test_shared_origin_drops_the_apps_referrer_policy():
    """The proxy's ``Referrer-Policy: no-referrer`` stands: a capability path must not leave
    through Referer."""
    items = [("Referrer-Policy", "unsafe-url"), ("Content-Type", "text/html")]
    assert _response(items, True).items == [("Content-Type", "text/html")]
    assert _response(items, False).items == items  # a preview origin's own business


def test_capability_location_and_which_requests_get_one():
    from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

    from jupyter_sandbox.server_extension.previews.capability import (
        capability_location,
        wants_capability,
    )

    cap = "c" * 43
    assert capability_location(PREFIX, cap, "/a/b", "token=t&q=1") == f"{PREFIX}/~{cap}/a/b?q=1"
    assert capability_location(PREFIX, cap, "", "token=t") == f"{PREFIX}/~{cap}/"
    raw_utf8 = "/wörld".encode().decode("latin-1")  # tornado's view of raw UTF-8 bytes
    assert capability_location(PREFIX, cap, raw_utf8, "x=%C3%A9") == (
        f"{PREFIX}/~{cap}/w%C3%B6rld?x=%C3%A9")

    def request(method: str = "GET", **headers: str) -> HTTPServerRequest:
        return HTTPServerRequest(start_line=RequestStartLine(method, "/", "HTTP/1.1"),
                                 headers=HTTPHeaders(
            {"Host": "h:1", **{k.replace("_", "-"): v for k, v in headers.items()}}))

    for dest in ("document", "iframe", "frame"):
        assert wants_capability(request(Sec_Fetch_Dest=dest))
    assert wants_capability(request("HEAD", Sec_Fetch_Mode="navigate"))
    assert not wants_capability(request())  # an API client
    assert not wants_capability(request(Sec_Fetch_Dest="empty", Sec_Fetch_Mode="cors"))
    assert not wants_capability(request("POST", Sec_Fetch_Mode="navigate"))  # a form post
    assert not wants_capability(request(Sec_Fetch_Mode="navigate", Authorization="token t"))
    assert not wants_capability(request(Sec_Fetch_Dest="document", Upgrade="websocket"))
