"""``riskmon fetch-alerts``: a saved response → incidents JSON lines that ``riskmon publish
--check`` accepts (no broker needed), ``--check`` reports, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cities import gimpo_city_toml
from tests.unit.streams.adapters.samples import KMA, POLL_1


def riskmon(*args: str, city: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RISKMON_CITY": str(city)}
    env.pop("RISKMON_KAFKA_BOOTSTRAP", None)  # nothing here may need a broker
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_incidents_pass_publish_check(tmp_path: Path) -> None:
    city = gimpo_city_toml(tmp_path)
    for api, body in (("mois", POLL_1), ("kma", KMA)):
        response = tmp_path / f"{api}.json"
        response.write_bytes(body)
        out = tmp_path / f"{api}.jsonl"
        made = riskmon("fetch-alerts", api, "--file", str(response), "--out", str(out), city=city)
        assert made.returncode == 0, made.stderr
        lines = out.read_text("utf-8").splitlines()
        assert lines
        assert all(json.loads(line)["source"] in ("mois-cbs", "kma-warning") for line in lines)
        assert made.stderr.splitlines()[-1].endswith(f"; {len(lines)} incident(s)")
        checked = riskmon("publish", "--check", str(out), city=city)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"{len(lines)} good (riskmon.incidents {len(lines)}), 0 bad" in checked.stdout
    assert "1 해제 reported, not applied (14 incident(s) of this file they end)" in made.stderr


def test_check_reports_each_message_and_writes_nothing(tmp_path: Path) -> None:
    city = gimpo_city_toml(tmp_path)
    response = tmp_path / "mois.json"
    response.write_bytes(POLL_1)
    checked = riskmon("fetch-alerts", "mois", "--file", str(response), "--check", city=city)
    assert checked.returncode == 0, checked.stderr
    lines = checked.stdout.splitlines()
    assert len(lines) == 13  # twelve messages and the summary
    assert f"{response}: body[2] SN=216003: skipped: not for 김포시: 경기도 고양시" in lines
    assert lines[-1].startswith("12 message(s): 1 duplicate, 4 incident, 1 no-effect")


def test_exit_codes(tmp_path: Path) -> None:
    city = gimpo_city_toml(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"<html>gateway timeout</html>")
    refused = riskmon("fetch-alerts", "mois", "--file", str(bad), city=city)
    assert (refused.returncode, "refused: not JSON" in refused.stderr) == (1, True)
    missing = riskmon("fetch-alerts", "kma", "--file", str(tmp_path / "nope.json"), city=city)
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr
    folder = tmp_path / "plain"
    folder.mkdir()
    plain = gimpo_city_toml(folder, name="gimpo")  # no Korean name: the region must be given
    body = tmp_path / "kma.json"
    body.write_bytes(KMA)
    usage = riskmon("fetch-alerts", "kma", "--file", str(body), city=plain)
    assert usage.returncode == 2
    assert "give the region" in usage.stderr
    given = riskmon(
        "fetch-alerts", "kma", "--file", str(body), "--region", "경기도 김포시", city=plain
    )
    assert given.returncode == 0
    assert len(given.stdout.splitlines()) == 14
