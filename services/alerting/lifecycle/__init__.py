"""An alert's life: firing, escalation, acknowledgement, resolution, timers, silences, callbacks and
hand-offs."""
