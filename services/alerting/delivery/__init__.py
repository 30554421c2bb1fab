"""Pages: rendering per channel and sending them (with retries, signatures and the SSRF guard)."""
