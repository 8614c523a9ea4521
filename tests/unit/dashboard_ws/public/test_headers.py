"""The open data's headers replace the gateway's defaults instead of doubling them."""

from __future__ import annotations

from dashboard_ws.public.service import CORS
from dashboard_ws.web import response


def test_a_route_header_replaces_the_default_of_the_same_name() -> None:
    plain = response(200, b"{}", "application/json")
    assert plain.headers.get_all("Cache-Control") == ["no-store"]
    assert plain.headers.get_all("Cross-Origin-Resource-Policy") == ["same-origin"]
    extra = (("Cache-Control", "public, max-age=60"), *CORS)
    public = response(200, b"{}", "application/geo+json", extra=extra)
    assert public.headers.get_all("Cache-Control") == ["public, max-age=60"]
    assert public.headers.get_all("Cross-Origin-Resource-Policy") == ["cross-origin"]
    assert public.headers.get_all("Access-Control-Allow-Origin") == ["*"]
    # the other protections stay
    assert public.headers.get_all("X-Content-Type-Options") == ["nosniff"]
    assert "default-src" in public.headers["Content-Security-Policy"]
