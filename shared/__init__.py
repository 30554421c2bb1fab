"""The platform's shared package: event contracts, the Kafka runtime, database and observability helpers."""
