"""The names of the files a project keeps in git beside its manifests, in a module that imports nothing (the CLI
reads them at start-up)."""

from __future__ import annotations

PROJECT_FILE = "chariot-apply.yaml"
LOCK_FILE = "chariot-apply.lock"
