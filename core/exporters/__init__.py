"""Exporters: Prometheus (prometheus_client collector) and CloudWatch (optional boto3 extra)."""
