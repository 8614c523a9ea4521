"""Plain-HTTP pieces of the gateway: responses with the security headers, the static assets.

Every answer carries :func:`~dashboard_ws.security.origins.security_headers` (a strict CSP,
``nosniff``, no framing, no referrer; HSTS over TLS) and ``Cache-Control: no-store`` (unless a
route sets its own, as the open data does); the page's
assets (``/static/<name>``) are the files of ``dashboard_ws/static`` with a known type.
"""

from __future__ import annotations

import email.utils
import http
from importlib import resources
from importlib.resources.abc import Traversable

from websockets.datastructures import Headers
from websockets.http11 import Response

from dashboard_ws.answers import Answer
from dashboard_ws.security.origins import security_headers

__all__ = ["StaticFiles", "response", "to_response"]

TEXT = "text/plain; charset=utf-8"
ASSET_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".json": "application/json",
    ".map": "application/json",
    ".woff2": "font/woff2",
    ".txt": TEXT,
}


def response(
    status: http.HTTPStatus | int,
    body: bytes,
    content_type: str = TEXT,
    *,
    tls: bool = False,
    extra: tuple[tuple[str, str], ...] = (),
    img_sources: tuple[str, ...] = (),
) -> Response:
    """An HTTP response (the connection closes after it) with the security headers; a header
    of ``extra`` replaces the default of the same name (the open data's caching and CORP)."""
    status = http.HTTPStatus(status)
    replaced = {name.lower() for name, _ in extra}
    defaults = [("Cache-Control", "no-store"), *security_headers(tls=tls, img_sources=img_sources)]
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            *(header for header in defaults if header[0].lower() not in replaced),
            *extra,
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def to_response(answer: Answer, *, tls: bool, img_sources: tuple[str, ...] = ()) -> Response:
    return response(
        answer.status,
        answer.body,
        answer.content_type,
        tls=tls,
        extra=answer.headers,
        img_sources=img_sources,
    )


class StaticFiles:
    """The page and its assets (``static/`` and its subfolders, e.g. the front end's bundle in
    ``static/dist/``), read from the package once and kept: only these files are ever served,
    whatever path a client asks for."""

    MAX_DEPTH = 3

    def __init__(self, package: str = "dashboard_ws", folder: str = "static") -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self._add(resources.files(package).joinpath(folder), "", 0)

    def _add(self, folder: Traversable, prefix: str, depth: int) -> None:
        for entry in folder.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir() and depth < self.MAX_DEPTH and entry.name != "node_modules":
                self._add(entry, f"{prefix}{entry.name}/", depth + 1)
                continue
            suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
            if entry.is_file() and suffix in ASSET_TYPES:
                self.files[prefix + entry.name] = (entry.read_bytes(), ASSET_TYPES[suffix])

    def get(self, name: str) -> tuple[bytes, str] | None:
        """The bytes and content type of ``name`` (``app.js``, ``dist/app.js``), or None."""
        return self.files.get(name)
