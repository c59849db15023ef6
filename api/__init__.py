"""The HTTP API: round control for the host, health for technicians, results for displays."""
