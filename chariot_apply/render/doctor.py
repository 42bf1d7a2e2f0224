"""``doctor``'s report as text (one line a check, then what failed in detail) or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from chariot_apply.reports.diagnosis import Report

MARKS = {"ok": "ok  ", "failed": "FAIL", "skipped": "skip"}


def render_doctor_text(report: Report) -> str:
    lines = [f"chariot-apply doctor: {report.server} (backend {report.backend})", ""]
    for check in report.checks:
        lines.append(f"  {MARKS[check.outcome]}  {check.name}" + (f": {check.detail}" if check.detail else ""))
        if check.outcome == "failed":
            for label, value in (("request", check.request), ("request id", check.request_id),
                                 ("answer", check.answer), ("what to do", check.hint)):
                if value:
                    lines.append(f"          {label}: {value}")
    failed = sum(c.outcome == "failed" for c in report.checks)
    lines += ["", "All checks passed." if not failed else f"{failed} check(s) failed."]
    return "\n".join(lines) + "\n"


def render_doctor_json(report: Report) -> str:
    document: dict[str, Any] = {"server": report.server, "backend": report.backend, "ok": report.ok,
                                "checks": [asdict(c) for c in report.checks]}
    return json.dumps(document, indent=2) + "\n"
