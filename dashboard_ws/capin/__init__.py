"""The CAP alerts in effect over the city, for the dashboard's overlay (``GET /api/cap/active``)."""
