"""The fanout writer's one framing per message is the frame websockets itself would send."""

from __future__ import annotations

import pytest
from websockets.protocol import State
from websockets.server import ServerProtocol

from dashboard_ws.fanout import frame_text


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 200_000])
def test_frame_text_is_the_frame_a_websockets_server_sends(size: int) -> None:
    text = ("가" * size)[:size] if size % 2 else "x" * size  # multi-byte UTF-8 too
    protocol = ServerProtocol()
    protocol.state = State.OPEN  # as after the handshake (no extension negotiated)
    protocol.send_text(text.encode())
    sent = b"".join(protocol.data_to_send())
    data, frame = frame_text(text)
    assert data == text.encode()
    assert frame == sent
