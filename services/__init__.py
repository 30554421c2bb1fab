"""The platform's four services; they share only the `shared` package and talk through Kafka and HTTP."""
