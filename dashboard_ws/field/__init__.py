"""Field inspection from a phone (docs/field.md): the ``inspector`` role's page and routes.

:mod:`~dashboard_ws.field.core` (pure: report -> fact, search), :mod:`~dashboard_ws.field.photos`
(pure: type, decoding, metadata), :mod:`~dashboard_ws.field.service` (PostgreSQL, Kafka, audit)
and :mod:`~dashboard_ws.field.routes` (HTTP).
"""
