"""Structured log lines: ``ts=... level=... logger=... msg=...`` (key=value pairs in msg)."""

from __future__ import annotations

import logging

FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s pid=%(process)d msg=%(message)s"


def setup(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format=FORMAT, force=True)
    for noisy in ("aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
