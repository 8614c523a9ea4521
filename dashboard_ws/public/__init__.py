"""What citizens see without logging in: the page ``GET /public`` and the open data endpoint
``GET /open/districts.geojson`` (docs/public.md).

* :mod:`~dashboard_ws.public.disclosure` — the privacy rule (pure): which instant is published
  (the last full hour at least an hour ago, changing at most hourly) and what of a district's
  scores (its grades only).
* :mod:`~dashboard_ws.public.geojson` — the open GeoJSON document (pure): simplified boundaries,
  names, grades, the time they describe, the model version, the boundary data's licence.
* :mod:`~dashboard_ws.public.conditional` — HTTP caching and per-address limits (pure).
* :mod:`~dashboard_ws.public.service` — the I/O shell: reads the score history in PostgreSQL,
  keeps the built document per published hour, answers with cache and CORS headers.

These are the gateway's deliberately public routes (``Action.PUBLIC_READ`` in
:mod:`dashboard_ws.security.roles`): they need no session, but the ``Host`` check applies.
"""
