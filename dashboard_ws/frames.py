"""One message's websocket frame, built once for every connection that can take the same bytes.

A server's frames are not masked, so a text frame is the same bytes on every connection that
negotiated no extension. The gateway offers one extension, permessage-deflate (RFC 7692), and
only *without context takeover in either direction* (:func:`compression`): each message is
compressed on its own, from an empty window, so its compressed frame depends on the message and
the compression parameters alone, not on what the connection sent before. The frame is then the
same bytes for every connection with the same parameters too, and a ``scores`` message of 60 KiB
is compressed once per pass instead of once per browser. No zlib state is kept per connection
(a compressor or decompressor is made per message and dropped), so compression adds no memory
per client.

:meth:`Message.frame_for` returns the shared frame for a connection, or None where sharing would
not be exact (an extension this module does not know, a fragmented message under way, a
connection not open): the caller then has the connection's protocol frame the message.
Compressed frames are made by websockets' own extension object of the first connection that
needs them (``Frame.serialize(extensions=...)``), so they are what that connection would have
sent.
"""

from __future__ import annotations

from typing import Any

from websockets.extensions.base import ServerExtensionFactory
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, State

__all__ = ["COMPRESS_SETTINGS", "Message", "compression"]

COMPRESS_SETTINGS: dict[str, Any] = {"level": 1, "memLevel": 8}
"""zlib settings of the gateway's compressor. On a synthetic 130 KB ``scores`` message (12
districts, random event ids and floats, so a pessimistic case) level 1 compressed 3.4 times in
~1.9 ms on a 2-core machine, level 6 4.1 times in ~5.6 ms; the gateway compresses once per
message per pass, not per client, and speed matters more than the last bytes."""


def compression(enabled: bool) -> list[ServerExtensionFactory] | None:
    """The extensions the gateway offers: permessage-deflate without context takeover either
    way (``enabled``), else none."""
    if not enabled:
        return None
    return [
        ServerPerMessageDeflateFactory(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            compress_settings=dict(COMPRESS_SETTINGS),
        )
    ]


class Message:
    """One message text: its UTF-8 bytes and its frames, each made when first asked for."""

    __slots__ = ("_deflated", "_frame", "payload", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.payload = text.encode()
        self._frame: bytes | None = None
        self._deflated: dict[tuple[int, tuple[tuple[str, Any], ...]], bytes] = {}

    @property
    def frame(self) -> bytes:
        """The unmasked, uncompressed text frame."""
        if self._frame is None:
            self._frame = Frame(Opcode.TEXT, self.payload).serialize(mask=False)
        return self._frame

    def frame_for(self, protocol: Protocol, sending_fragments: bool = False) -> bytes | None:
        """The bytes ``protocol``'s connection may be written for this message, or None when
        its protocol must frame it (see the module)."""
        if sending_fragments or protocol.expect_continuation_frame:
            return None
        if protocol.state is not State.OPEN:
            return None
        extensions = protocol.extensions
        if not extensions:
            return self.frame
        if len(extensions) != 1:
            return None
        deflate = extensions[0]
        if not isinstance(deflate, PerMessageDeflate) or not deflate.local_no_context_takeover:
            return None
        key = (deflate.local_max_window_bits, tuple(sorted(deflate.compress_settings.items())))
        frame = self._deflated.get(key)
        if frame is None:
            # Without context takeover, encoding starts from a fresh compressor and drops it:
            # the extension's state is the same after as before.
            frame = Frame(Opcode.TEXT, self.payload).serialize(mask=False, extensions=extensions)
            self._deflated[key] = frame
        return frame
