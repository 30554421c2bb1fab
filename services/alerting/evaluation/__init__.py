"""Rule evaluation: scored feedback and commerce events → window counters → signals, in the consumer."""
