"""Small request bodies for the gateway's few POST routes (``/auth/login``, ``/auth/logout``).

websockets answers plain HTTP from ``process_request`` but reads only a request's head: a request
with a body (``Content-Length`` other than 0) is refused before ``process_request`` sees it. The
gateway needs a JSON body on ``POST /auth/login``, so :class:`BodyConnection` (websockets'
documented ``create_connection`` extension point) sits in front of websockets' parser: it holds
the incoming bytes until the head is complete, takes a POST body of at most ``MAX_BODY`` bytes
out (or up to :attr:`BodyConnection.body_limits` for the paths named there: the field page's
reports), and hands websockets the head without its ``Content-Length``. The route then reads
:attr:`BodyConnection.body`. Everything else (websocket handshakes, GETs) passes through
unchanged. The cut itself is :func:`split_body`, pure.

The opening-handshake timeout of websockets bounds how long a client may take to send it all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from websockets.asyncio.server import ServerConnection

__all__ = ["MAX_BODY", "MAX_HEAD", "BodyConnection", "Cut", "split_body"]

MAX_BODY = 4096  # a login is a name and a password
MAX_HEAD = 16 * 1024  # beyond it, websockets' own limits answer


@dataclass(frozen=True)
class Cut:
    """A request head to hand on (without ``Content-Length``), its body, the bytes after it.

    ``too_large``: the body announced more than the limit (not read: the route answers 413);
    ``malformed``: the ``Content-Length`` was not a number (the route answers 400)."""

    head: bytes
    body: bytes
    rest: bytes = b""
    too_large: bool = False
    malformed: bool = False


PASS = "pass"  # hand the bytes on unchanged
MORE = "more"  # wait for more bytes


def split_body(
    buffer: bytes, max_body: int = MAX_BODY, limits: dict[bytes, int] | None = None
) -> Cut | str:
    """Cut a POST body out of the start of a connection's bytes.

    Returns :data:`MORE` until the head (and the announced body) is complete, :data:`PASS` for a
    request without a body or that is not a POST, else a :class:`Cut`. ``limits`` raises the
    limit for some paths (the field page's reports carry photos), by path without the query.

    >>> cut = split_body(b"POST /x HTTP/1.1\\r\\nContent-Length: 2\\r\\n\\r\\n{}")
    >>> cut.head, cut.body, cut.rest
    (b'POST /x HTTP/1.1\\r\\n\\r\\n', b'{}', b'')
    >>> split_body(b"GET / HTTP/1.1\\r\\n\\r\\n"), split_body(b"POST /x HTTP/1.1\\r\\n")
    ('pass', 'more')
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return PASS if len(buffer) > MAX_HEAD else MORE
    head = buffer[: end + 2]  # the last header line's CRLF included
    lines = head.split(b"\r\n")[:-1]
    if not lines or not lines[0].startswith(b"POST "):
        return PASS
    kept: list[bytes] = [lines[0]]
    lengths: list[bytes] = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            lengths.append(value.strip())
        else:
            kept.append(line)
    if not lengths or set(lengths) == {b"0"}:
        return PASS
    new_head = b"\r\n".join(kept) + b"\r\n\r\n"
    if len(set(lengths)) != 1 or not lengths[0].isdigit() or len(lengths[0]) > 9:
        return Cut(new_head, b"", malformed=True)
    size = int(lengths[0])
    target = lines[0].split(b" ")[1].split(b"?")[0] if lines[0].count(b" ") >= 2 else b""
    if size > (limits or {}).get(target, max_body):
        return Cut(new_head, b"", too_large=True)
    start = end + 4
    if len(buffer) - start < size:
        return MORE
    return Cut(new_head, buffer[start : start + size], buffer[start + size :])


class BodyConnection(ServerConnection):
    """A websockets server connection that lets a small POST body through to the routes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.body: bytes | None = None
        self.body_problem: str | None = None  # "too_large" or "malformed"
        self._buffer: bytearray | None = bytearray()
        self._head_seen = 0  # bytes of the buffer known to hold no complete head

    # Paths whose POST body may exceed MAX_BODY, and their limits (the gateway sets it).
    body_limits: ClassVar[dict[bytes, int]] = {}

    def data_received(self, data: bytes) -> None:
        if self._buffer is None:  # the head went through already
            super().data_received(data)
            return
        self._buffer += data
        # A large body arrives in many pieces: look again only once it may be complete, so the
        # buffer is not copied and scanned for every piece.
        if len(self._buffer) < self._head_seen:
            return
        cut = split_body(bytes(self._buffer), limits=self.body_limits)
        if cut == MORE:
            self._head_seen = _awaited(self._buffer)
            return
        buffered, self._buffer = bytes(self._buffer), None
        if isinstance(cut, Cut):
            self.body = cut.body
            if cut.too_large or cut.malformed:
                self.body_problem = "too_large" if cut.too_large else "malformed"
            super().data_received(cut.head + cut.rest)
        else:
            super().data_received(buffered)


def _awaited(buffer: bytearray) -> int:
    """How many bytes a request needs before :func:`split_body` can cut it: the head and the
    announced body once the head is complete, else one more byte.

    >>> _awaited(bytearray(b"POST /x HTTP/1.1\\r\\nContent-Length: 10\\r\\n\\r\\n{}"))
    50
    """
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return len(buffer) + 1
    for line in bytes(buffer[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return end + 4 + int(value.strip()[:10])
    return len(buffer) + 1
