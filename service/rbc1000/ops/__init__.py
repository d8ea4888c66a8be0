"""Operating the service: typed settings, Prometheus metrics, health endpoints."""
