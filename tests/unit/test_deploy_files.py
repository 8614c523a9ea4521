"""deploy/ cannot run here (no Docker engine); these checks keep it from drifting from the code:
every RISKMON_ variable it sets is a setting with a valid value, and every command it runs is a
riskmon command that parses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.cli.main import _parser
from streams.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
K8S = list(yaml.safe_load_all((ROOT / "deploy" / "k8s" / "riskmon.yaml").read_text()))


def riskmon_environments() -> dict[str, dict[str, str]]:
    """Each place that sets riskmon's environment: compose services, k8s ConfigMap + Secret."""
    found: dict[str, dict[str, str]] = {}
    for name, service in COMPOSE["services"].items():
        env = service.get("environment") or {}
        if any(key.startswith("RISKMON_") for key in env):
            found[f"compose:{name}"] = {k: str(v) for k, v in env.items()}
    k8s: dict[str, str] = {}
    for doc in K8S:
        if doc["kind"] in ("ConfigMap", "Secret"):
            k8s.update(doc.get("data") or {})
            k8s.update(doc.get("stringData") or {})
    found["k8s"] = k8s
    return found


def known_variable(name: str) -> bool:
    """
    >>> known_variable("RISKMON_TOPICS__SCORES"), known_variable("RISKMON_GATEWAY_PORTS")
    (True, False)
    """
    field, _, nested = name.removeprefix("RISKMON_").lower().partition("__")
    if field not in Settings.model_fields:
        return False
    if not nested:
        return True
    annotation: Any = Settings.model_fields[field].annotation
    return nested in annotation.model_fields


@pytest.mark.parametrize("where", sorted(riskmon_environments()))
def test_every_riskmon_variable_is_a_setting_with_a_valid_value(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = riskmon_environments()[where]
    unknown = sorted(
        name for name in env if name.startswith("RISKMON_") and not known_variable(name)
    )
    assert unknown == [], f"{where} sets variables riskmon does not read"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()  # raises on a value of the wrong type or outside its choices
    assert settings.kafka_bootstrap
    assert settings.pg_dsn, f"{where}: the worker, sink and history API need RISKMON_PG_DSN"


def commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every riskmon invocation in deploy/."""
    found = []
    for name, service in COMPOSE["services"].items():
        if "build" in service:  # the riskmon image: its entrypoint is `riskmon`
            found.append((f"compose:{name}", list(service["command"])))
    for doc in K8S:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            where = f"k8s:{doc['metadata']['name']}"
            if "args" in container:
                found.append((where, list(container["args"])))
            if container.get("command", [None])[0] == "sh":
                for part in container["command"][-1].split("&&"):
                    words = part.split()
                    assert words[0] == "riskmon", part
                    found.append((where, words[1:]))
    return found


@pytest.mark.parametrize(("where", "argv"), commands())
def test_every_command_is_a_riskmon_command(where: str, argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    assert args.command in {"worker", "sink", "gateway", "topics", "db"}, where


def test_every_role_runs_somewhere_in_both_deployments() -> None:
    roles: dict[str, set[str]] = {}
    for where, argv in commands():
        roles.setdefault(where.split(":")[0], set()).add(argv[0])
    for deployment, ran in roles.items():
        assert {"worker", "sink", "gateway", "topics"} <= ran, deployment
