"""Customer-experience insight: NPS, CSAT, CES and SLA KPIs rolled up from scored feedback and alerts."""
