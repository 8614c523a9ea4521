"""Pure risk and safety index library: no I/O, no Kafka, deterministic."""
