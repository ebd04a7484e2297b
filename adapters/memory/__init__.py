"""In-memory adapters, for tests: the repository and unit of work (`repository`), and the metrics, tracing and
logging adapters that record everything (`telemetry`). The no-op ones are in `ports.noop`."""
