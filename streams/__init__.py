"""riskmon's streaming side: agencies' inputs -> located events -> district scores and alerts.

Each subpackage is one layer or one subsystem; a layer imports only the layers below it
(``lint-imports`` checks this, see ``[tool.importlinter]`` in ``pyproject.toml``)::

    cli                                  the composition root: parses the command, wires the rest
    worker | replay | simulator | ops    Faust shell | recompute history | synthetic city | servers
    persistence                          PostgreSQL (the only asyncpg importer) and the history sink
    pipeline                             the pure steps: ingest, scoring, alerting, offline scoring
    contract | city                      the wire models | districts, polygons, city configuration
    indices                              (a package of its own) the index model, pure

Beside them: :mod:`streams.settings` (the one settings object), :mod:`streams.errors` (the error
root), :mod:`streams.logs` and :mod:`streams.metrics`.
"""
