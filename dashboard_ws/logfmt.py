"""One-line ``key=value`` log messages, so log lines can be grepped and parsed.

>>> logfmt("client_connected", client=3, peer="127.0.0.1:5000", note="two words")
'event=client_connected client=3 peer=127.0.0.1:5000 note="two words"'
"""

from __future__ import annotations

import json

__all__ = ["logfmt"]


def logfmt(event: str, **fields: object) -> str:
    """``event=NAME k=v ...`` for a log call; values with spaces, quotes or ``=`` are quoted."""
    parts = [f"event={event}"]
    for key, value in fields.items():
        text = str(value)
        if not text or any(c in text for c in ' "=\n\t'):
            text = json.dumps(text, ensure_ascii=False)
        parts.append(f"{key}={text}")
    return " ".join(parts)
