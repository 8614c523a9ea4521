"""Which requests come from a page the gateway trusts, and the headers every page carries.

**Host** (every request, :func:`check_host`): the ``Host`` header must name the gateway itself —
one of the allowed hosts (``RISKMON_ALLOWED_HOSTS``; unset: the address it listens on, and the
loopback names when it listens on loopback) or the host of an allowed origin. This defeats DNS
rebinding, where a hostile name (``evil.example``) is pointed at the gateway's address and the
browser, believing it talks to evil.example, sends ``Host: evil.example``.

**Origin** (the websocket handshake and every state-changing request, :func:`check_origin`):
browsers send ``Origin`` with those, and a page of another site cannot forge it. It must be
the gateway's own origin (same origin: scheme and ``Host`` of this request) or one of the allowed
origins (``RISKMON_ALLOWED_ORIGINS``, e.g. a dashboard served elsewhere). ``Origin: null``
(sandboxed frames, file: pages) is refused. A request without ``Origin`` is not from a browser
page; it is allowed only with a bearer token (a program), never on the strength of a cookie,
which the browser would attach. Plain page loads (``GET /``) carry no ``Origin``: only the Host
check applies to them.

**Headers** (:func:`security_headers`): a Content-Security-Policy that allows scripts, styles
and connections to this origin only (no inline script or style, no framing, no plugins),
``nosniff``, no referrer, and HSTS when served over TLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "OriginPolicy",
    "Verdict",
    "check_host",
    "check_origin",
    "content_security_policy",
    "normalize_host",
    "normalize_origin",
    "security_headers",
]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_WILDCARD = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class Verdict:
    """Whether a request passes, and if not why (for the 403's body and the log)."""

    allowed: bool
    reason: str = ""


OK = Verdict(True)


def normalize_host(host: str, scheme: str = "http") -> str | None:
    """``host:port`` lower-cased, the port explicit (the scheme's default when absent); None
    when unparsable.

    >>> normalize_host("Gateway.Example", "https"), normalize_host("127.0.0.1:8080")
    ('gateway.example:443', '127.0.0.1:8080')
    """
    try:
        parts = urlsplit(f"//{host.strip()}")
        name, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number, or out of range
        return None
    if not name or parts.username is not None or parts.password is not None or parts.path:
        return None
    if ":" in name:  # IPv6
        name = f"[{name}]"
    return f"{name}:{port if port is not None else _DEFAULT_PORTS[scheme]}"


def normalize_origin(origin: str) -> str | None:
    """``scheme://host:port`` lower-cased, the port explicit; None for ``null`` or anything but
    an http(s) origin.

    >>> normalize_origin("HTTPS://Dash.Example")
    'https://dash.example:443'
    """
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or parts.path or parts.query or parts.fragment:
        return None
    host = normalize_host(parts.netloc, scheme)
    return f"{scheme}://{host}" if host else None


def _allowed_host(name: str) -> set[str]:
    """A configured host: with a port, that port; without, both default ports."""
    if normalize_host(name, "http") == normalize_host(name, "https"):
        return {h for h in (normalize_host(name),) if h}
    return {h for h in (normalize_host(name, "http"), normalize_host(name, "https")) if h}


@dataclass(frozen=True)
class OriginPolicy:
    """The hosts and origins the gateway answers to (all normalized)."""

    hosts: frozenset[str]
    origins: frozenset[str]

    @classmethod
    def of(
        cls,
        *,
        listen_host: str,
        port: int,
        allowed_hosts: tuple[str, ...] = (),
        allowed_origins: tuple[str, ...] = (),
    ) -> OriginPolicy:
        """The policy of a gateway listening on ``listen_host:port``: ``allowed_hosts`` when
        given, else its own address (and the loopback names when that is loopback); plus the
        hosts of ``allowed_origins``. A gateway listening on every interface (0.0.0.0) must be
        told its public names: it has no own name to default to."""
        origins = frozenset(o for o in map(normalize_origin, allowed_origins) if o)
        if allowed_hosts:
            names = list(allowed_hosts)
        elif listen_host in _LOOPBACK:
            names = [f"{name}:{port}" for name in _LOOPBACK]
        elif listen_host in _WILDCARD:
            names = []
        else:
            own = f"[{listen_host}]" if ":" in listen_host else listen_host
            names = [f"{own}:{port}"]
        hosts = {h for name in names for h in _allowed_host(name)}
        hosts |= {o.split("://", 1)[1] for o in origins}
        return cls(hosts=frozenset(hosts), origins=origins)


def check_host(host: str | None, policy: OriginPolicy, *, scheme: str = "http") -> Verdict:
    """Is ``host`` (the request's Host header) one of the gateway's own names?"""
    if not host:
        return Verdict(False, "no Host header")
    name = normalize_host(host, scheme)
    if name is None:
        return Verdict(False, "malformed Host header")
    if name not in policy.hosts:
        return Verdict(False, f"host {name!r} is not served here")
    return OK


def check_origin(
    host: str | None,
    origin: str | None,
    policy: OriginPolicy,
    *,
    scheme: str = "http",
    bearer: bool = False,
) -> Verdict:
    """May a websocket handshake or a state-changing request with these ``Host`` and ``Origin``
    headers proceed? ``scheme`` is how the gateway serves it (``https`` with TLS), ``bearer``
    whether it carries a bearer token (a program's credential, never sent by a browser on its
    own)."""
    verdict = check_host(host, policy, scheme=scheme)
    if not verdict.allowed:
        return verdict
    if origin is None:
        if bearer:
            return OK
        return Verdict(False, "no Origin header: browsers send one; programs use a bearer token")
    normalized = normalize_origin(origin)
    if normalized is None:
        return Verdict(False, f"origin {origin[:100]!r} is not allowed")
    own = f"{scheme}://{normalize_host(host or '', scheme)}"  # the Host passed check_host
    if normalized == own or normalized in policy.origins:
        return OK
    return Verdict(False, f"origin {normalized!r} is not allowed")


CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",  # fetch and the websocket (CSP 3: 'self' covers ws/wss)
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def content_security_policy(img_sources: tuple[str, ...] = ()) -> str:
    """:data:`CONTENT_SECURITY_POLICY`, with images also allowed from ``img_sources`` (the
    origin of a configured base map's tiles).

    >>> "img-src 'self' data: https://tiles.example:443;" in content_security_policy(
    ...     ("https://tiles.example:443",))
    True
    """
    if not img_sources:
        return CONTENT_SECURITY_POLICY
    img = " ".join(("img-src 'self' data:", *img_sources))
    return CONTENT_SECURITY_POLICY.replace("img-src 'self' data:", img)


def security_headers(
    *, tls: bool, img_sources: tuple[str, ...] = ()
) -> tuple[tuple[str, str], ...]:
    """Headers for every HTTP answer of the gateway (pages, API, errors)."""
    headers = [
        ("Content-Security-Policy", content_security_policy(img_sources)),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),  # frame-ancestors for browsers without CSP 2
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]
    if tls:
        headers.append(("Strict-Transport-Security", "max-age=31536000"))
    return tuple(headers)
