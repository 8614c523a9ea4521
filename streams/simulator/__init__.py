"""The event simulator: a city's incidents, sensor readings and safety facts over time (a pure core)
and the producer that publishes them to Kafka. Imports the contract and the city."""
