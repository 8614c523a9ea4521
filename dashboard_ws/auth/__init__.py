"""Authentication, the gateway's I/O side of access control (the decisions are
:mod:`dashboard_ws.security`'s).

* :mod:`~dashboard_ws.auth.principal`  credentials of a request (cookie, bearer), the cookie's
  attributes, and :class:`Principal`: who is asking, with which role, until when
* :mod:`~dashboard_ws.auth.store`      where accounts, sessions and the audit trail live
  (PostgreSQL; an in-memory twin for tests)
* :mod:`~dashboard_ws.auth.service`    login, logout, authenticate, re-check open sockets, audit;
  the identity-provider seam (local passwords now, a city's OpenID Connect later)
* :mod:`~dashboard_ws.auth.routes`     the answers of ``/auth/*`` and ``/api/audit``
"""
