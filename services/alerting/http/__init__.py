"""The API, the console and ack links: thin routes over the query and lifecycle modules."""
