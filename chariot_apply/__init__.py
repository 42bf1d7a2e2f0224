"""chariot-apply: declare Chariot training runs in YAML, plan the difference, apply it idempotently."""

__version__ = "0.1.0"
