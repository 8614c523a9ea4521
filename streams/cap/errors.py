"""The errors of :mod:`streams.cap`: one root, :class:`CapError`, whose message names the element.

::

    RiskmonError (streams.errors)
     └── CapError (ValueError)          no    a CAP message riskmon will not use
          ├── CapRefused                no    unsafe or oversized input, refused before reading it
          └── CapInvalid                no    a rule of CAP 1.2 is broken (names the element)

Every message starts with the path of the offending element, e.g.
``info[0]/area[1]/polygon: 3 points, needs at least 4``; ``path`` and ``reason`` hold the two
parts, so a dead letter can carry them separately.
"""

from __future__ import annotations

from streams.errors import RiskmonError


class CapError(RiskmonError, ValueError):
    """A CAP message that cannot be used; ``str(error)`` is ``"PATH: REASON"``."""

    retriable = False

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


class CapRefused(CapError):
    """Refused before it was read: too large, a DOCTYPE (entities, external DTDs) or not XML."""

    retriable = False


class CapInvalid(CapError):
    """Well-formed XML that breaks a rule of CAP 1.2 (or 1.1) riskmon cannot guess around."""

    retriable = False
