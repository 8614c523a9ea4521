"""Alerts from district indices: rules, a lifecycle moved by one table, clusters of neighbours.

:mod:`~indices.alerts.engine`    the alert engine (observe, tick, acknowledge, persist)
:mod:`~indices.alerts.rules`     threshold, spike and staleness rules and their parameters
:mod:`~indices.alerts.lifecycle` alert states and the one transition table
:mod:`~indices.alerts.clusters`  alerts of neighbouring districts grouped as one incident
:mod:`~indices.alerts.upgrade`   older checkpoint layouts read into the current one

This package re-exports the engine's public names: ``from indices.alerts import AlertEngine``.
"""

from indices.alerts.engine import (
    ENGINE_FORMAT,
    HAZARD_RULES,
    KIND_RULES,
    TRANSITIONS,
    AlertChange,
    AlertConfig,
    AlertEngine,
    AlertSnapshot,
    AlertState,
    ChangeKind,
    DomainRules,
    InvalidTransition,
    Observation,
    RuleParams,
    Severity,
    SpikeParams,
    StaleParams,
    ThresholdParams,
    Trigger,
    UnknownAlert,
    alert_config_from_mapping,
    alert_config_to_mapping,
    change_kind,
    transition,
)

__all__ = [
    "ENGINE_FORMAT",
    "HAZARD_RULES",
    "KIND_RULES",
    "TRANSITIONS",
    "AlertChange",
    "AlertConfig",
    "AlertEngine",
    "AlertSnapshot",
    "AlertState",
    "ChangeKind",
    "DomainRules",
    "InvalidTransition",
    "Observation",
    "RuleParams",
    "Severity",
    "SpikeParams",
    "StaleParams",
    "ThresholdParams",
    "Trigger",
    "UnknownAlert",
    "alert_config_from_mapping",
    "alert_config_to_mapping",
    "change_kind",
    "transition",
]
