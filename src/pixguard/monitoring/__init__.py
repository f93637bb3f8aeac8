"""Monitoring and alerting of the streaming job: listener, per-batch figures, Prometheus endpoint,
alert rules and sinks, Delta stream_metrics, the HTML report, and masking of personal data."""
