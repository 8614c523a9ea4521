"""The gateway's access control as pure decisions: no I/O, the clock is an argument.

Security sits at the edge, in one place: the server (later) asks these modules and only moves
bytes; each is tested without sockets.

* :mod:`~dashboard_ws.security.roles`      who may do what: the roles viewer < operator <
  analyst < admin and one table ``{action: minimum role}``; ``may(role, action)``
* :mod:`~dashboard_ws.security.passwords`  argon2id hashing and verification (the same work for
  an unknown name), ``needs_rehash``, the password policy
* :mod:`~dashboard_ws.security.sessions`   session tokens (only their SHA-256 is stored) with idle
  and absolute expiry; HMAC-signed short-lived bearer tokens for programs
* :mod:`~dashboard_ws.security.ratelimit`  whether a login may be tried: failures per account and
  per address in a sliding window, in bounded memory
* :mod:`~dashboard_ws.security.origins`    whether a request's Host and Origin are the gateway's
  own (cross-site websocket hijacking, DNS rebinding), and the security headers of every page

Accounts, sessions and the audit trail are stored by :mod:`streams.persistence.accounts`.
"""
