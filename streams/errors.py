"""The root of riskmon's own errors, and whether a retry can heal each one.

Every error class riskmon defines derives from :class:`RiskmonError` and says once, on the class,
whether it is *retriable* (transient: the same call may succeed later, e.g. a server that is
down) or not (permanent: a setting, a file, an input or a bug to fix; retrying changes
nothing). Classes that callers already catch by a built-in base keep it (``CityConfigError`` is
still a ``ValueError``)::

    Exception
     └── RiskmonError                   retriable  defined in
          ├── SettingMissing (ValueError)    no     streams.settings
          ├── CityConfigError (ValueError)   no     streams.city.config
          │    └── CityImportError           no     streams.city.importer
          ├── SynthError (ValueError)        no     streams.city.synth
          ├── TopicMismatch (ValueError)     no     streams.ops.topics
          ├── Rejected                       no     streams.pipeline.ingest (becomes a dead letter)
          ├── CheckpointUnavailable          yes    streams.persistence.checkpoints
          ├── CheckpointMismatch             no     streams.worker.scoring_stage
          ├── NoCheckpoint                   yes    streams.persistence.whatif_reads
          ├── WhatIfRefused                  no     streams.pipeline.whatif (an HTTP 4xx)
          ├── BadInput (ValueError)          no     streams.cli.detect
          ├── CapError (ValueError)          no     streams.cap.errors
          │    ├── CapRefused                no     streams.cap.errors
          │    └── CapInvalid                no     streams.cap.errors
          ├── ChainClosed (ValueError)       no     streams.cap.outbox (an HTTP 409)
          ├── AdapterRefused (ValueError)    no     streams.adapters.common
          ├── GatewayError                   no     dashboard_ws.hub (a caller's bug)
          │    ├── UnknownClient             no     dashboard_ws.hub
          │    ├── InvalidTransition         no     dashboard_ws.hub
          │    └── QueueFull                 no     dashboard_ws.hub (a client reads too little)
          └── _Bad                           no     dashboard_ws.api.params (an HTTP 4xx)

Not in the tree: :mod:`indices` is a package of its own that imports nothing of ``streams``; its
``IndicesError`` (a ``ValueError``) reaches riskmon wrapped, e.g. as a ``CityConfigError``.
PostgreSQL's errors (asyncpg's classes) are classified by
:func:`streams.persistence.db.is_transient`: a lost connection or a server that is restarting
is retried, an error in riskmon's own SQL or data is not (see docs/operations.md, "Errors").

This module imports nothing of ``streams``, so that every layer may import it.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["RiskmonError"]


class RiskmonError(Exception):
    """Base class of every error riskmon defines.

    ``retriable`` is True when the same operation may succeed if tried again later (a server
    that is down, a connection that was lost), False when something must be fixed first. Each
    subclass sets it itself (the unit tests check), so no class is retriable by inheritance
    alone.
    """

    retriable: ClassVar[bool] = False
