"""File names every layer agrees on, in a module that imports nothing (the CLI reads them at start-up)."""

from __future__ import annotations

from pathlib import Path

PROJECT_FILE = "chariot-apply.yaml"
LOCK_FILE = "chariot-apply.lock"
EMBEDDED_DB = Path(".chariot-apply") / "emulator.db"
