"""The pure steps of the stream: ingest (bytes -> located event or dead letter), scoring (located
events -> score updates), alerting (score updates -> alerts) and offline scoring (``riskmon
score``).

No I/O and no clock: time is an argument. Imports :mod:`streams.contract`, :mod:`streams.city`
and :mod:`indices`; never Kafka, Faust or asyncpg.
"""
