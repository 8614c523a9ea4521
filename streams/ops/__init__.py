"""Operations: Kafka topics, what every process runs at startup (migrations, topics, epochs), the
embedded servers of the demo and tests, and ``riskmon status``. Imports persistence and below."""
