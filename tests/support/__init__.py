"""What the test suites share: waiting on conditions and reading Kafka as a consumer group sees it."""
