"""Host and Origin checks (DNS rebinding, cross-site websocket hijacking) and security headers."""

from __future__ import annotations

import pytest

from dashboard_ws.security.origins import (
    OriginPolicy,
    check_host,
    check_origin,
    normalize_host,
    normalize_origin,
    security_headers,
)

LOCAL = OriginPolicy.of(listen_host="127.0.0.1", port=8080)
PUBLIC = OriginPolicy.of(
    listen_host="0.0.0.0",
    port=8443,
    allowed_hosts=("riskmon.city.example",),
    allowed_origins=("https://wall.city.example",),
)


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "[::1]:8080"]
)
def test_the_demo_answers_to_its_loopback_names(host: str) -> None:
    assert check_host(host, LOCAL).allowed


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8080", "127.0.0.1:9999", "127.0.0.1", None, "", "a:b:c"]
)
def test_dns_rebinding_and_other_hosts_are_refused(host: str | None) -> None:
    verdict = check_host(host, LOCAL)
    assert not verdict.allowed
    assert verdict.reason


def test_a_rebound_page_is_refused_even_with_its_own_matching_origin() -> None:
    # evil.example resolves to 127.0.0.1: the browser sends Host and Origin of evil.example.
    verdict = check_origin("evil.example:8080", "http://evil.example:8080", LOCAL)
    assert not verdict.allowed
    assert "not served here" in verdict.reason


def test_same_origin_is_allowed() -> None:
    assert check_origin("127.0.0.1:8080", "http://127.0.0.1:8080", LOCAL).allowed
    assert check_origin("localhost:8080", "http://localhost:8080", LOCAL).allowed


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://localhost:8080.evil.example",
        "http://127.0.0.1:8081",
        "https://127.0.0.1:8080",  # another scheme is another origin
        "http://localhost:8080",  # a loopback name other than the request's own Host
        "null",
        "file://",
        "http://127.0.0.1:8080/path",
        "",
    ],
)
def test_cross_site_origins_are_refused(origin: str) -> None:
    verdict = check_origin("127.0.0.1:8080", origin, LOCAL)
    assert not verdict.allowed
    assert "origin" in verdict.reason


def test_no_origin_needs_a_bearer_token() -> None:
    refused = check_origin("127.0.0.1:8080", None, LOCAL)
    assert not refused.allowed
    assert "bearer" in refused.reason
    assert check_origin("127.0.0.1:8080", None, LOCAL, bearer=True).allowed
    assert not check_origin("evil.example", None, LOCAL, bearer=True).allowed  # Host still checked


def test_a_public_gateway_answers_to_its_names_and_allowed_origins() -> None:
    assert check_host("riskmon.city.example", PUBLIC, scheme="https").allowed
    assert check_host("riskmon.city.example:443", PUBLIC, scheme="https").allowed
    assert check_host("wall.city.example", PUBLIC, scheme="https").allowed
    assert not check_host("10.0.0.5:8443", PUBLIC, scheme="https").allowed  # no bare address
    same = check_origin(
        "riskmon.city.example", "https://riskmon.city.example", PUBLIC, scheme="https"
    )
    assert same.allowed
    wall = check_origin(
        "riskmon.city.example", "https://WALL.city.example:443", PUBLIC, scheme="https"
    )
    assert wall.allowed
    assert not check_origin(
        "riskmon.city.example", "http://wall.city.example", PUBLIC, scheme="https"
    ).allowed


def test_a_gateway_on_every_interface_without_names_answers_to_none() -> None:
    policy = OriginPolicy.of(listen_host="0.0.0.0", port=8080)
    assert policy.hosts == frozenset()
    assert not check_host("127.0.0.1:8080", policy).allowed


def test_normalization() -> None:
    assert normalize_host("Example.ORG") == "example.org:80"
    assert normalize_host("[::1]:8080") == "[::1]:8080"
    assert normalize_host("user@example.org") is None
    assert normalize_host("example.org:99999") is None
    assert normalize_origin("http://example.org:80") == "http://example.org:80"
    assert normalize_origin("ws://example.org") is None
    assert normalize_origin("null") is None


def test_every_page_gets_a_strict_policy() -> None:
    headers = dict(security_headers(tls=False))
    csp = headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert directives["frame-ancestors"] == ["'none'"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "Strict-Transport-Security" not in headers
    assert "Strict-Transport-Security" in dict(security_headers(tls=True))
