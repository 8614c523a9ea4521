"""Errors raised by :mod:`indices`. All derive from :class:`IndicesError`, itself a ``ValueError``.

::

    IndicesError (ValueError)
    ├── InvalidEvent   an event the wire contract should have rejected (unknown type, NaN time)
    ├── InvalidConfig  a ModelParams or District out of range (missing domain, negative area, ...)
    └── InvalidState   DistrictState.from_dict got data that DistrictState.to_dict did not write

None of them is retriable: the same input fails the same way every time. A streaming caller
should send an :class:`InvalidEvent` input to its dead-letter topic, and fix configuration or stored
state for the other two.
"""

from __future__ import annotations

__all__ = ["IndicesError", "InvalidConfig", "InvalidEvent", "InvalidState"]


class IndicesError(ValueError):
    """Root of every error :mod:`indices` raises."""


class InvalidEvent(IndicesError):
    """An input event is malformed; validate at the edge (``streams.contract``) first."""


class InvalidConfig(IndicesError):
    """A :class:`~indices.ModelParams` or :class:`~indices.District` value is out of range."""


class InvalidState(IndicesError):
    """Serialised state is malformed or of another format; rebuild it by replaying events."""
