"""chariot-apply: declare Chariot training runs in YAML, plan the difference, apply it idempotently."""

import sys

__version__ = "0.1.0"

# httpx imports its own command line (``httpx._main``: rich and pygments, ~45 ms) whenever rich is installed, and
# falls back to a stub when that import fails. We never run httpx's command line: every chariot-apply command
# starts that much sooner (tests/test_imports.py keeps rich out).
if "httpx" not in sys.modules:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]  # None there: its import raises ImportError
