"""Monitoring and alerting of the streaming and archive jobs: listener, per-batch figures, Prometheus
endpoints, alert rules and sinks, Delta stream_metrics, the HTML report, and masking of personal data."""
