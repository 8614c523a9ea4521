"""PostgreSQL: connections, migrations, epochs, checkpoints, history writes and reads, the history
sink and retention. The only part of ``streams`` that imports asyncpg.

Imports :mod:`streams.pipeline` only for pure types it stores (never Faust).
"""
