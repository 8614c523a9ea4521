"""The history API: requests parsed and checked (:mod:`~dashboard_ws.api.params`, pure), answered
from PostgreSQL (:mod:`~dashboard_ws.api.service`), as JSON or CSV
(:mod:`~dashboard_ws.api.csv_format`), described by OpenAPI (:mod:`~dashboard_ws.api.openapi`)."""
