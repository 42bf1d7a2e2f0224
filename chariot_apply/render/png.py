"""A run's metric curves as a PNG, drawn with matplotlib (the optional ``plot`` extra: it is large, and only
``metrics --png`` needs it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chariot_apply.chariot.models import Metric
from chariot_apply.diagnostics import codes
from chariot_apply.diagnostics.errors import UserError


def write_png(metrics: Sequence[Metric], path: Path, title: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--png needs matplotlib", hint="pip install 'chariot-apply[plot]'",
                        code=codes.MISSING_EXTRA) from None
    tags = sorted({m.tag for m in metrics})
    figure, axes = plt.subplots(len(tags) or 1, 1, figsize=(8, 2.6 * max(1, len(tags))), squeeze=False)
    for ax, tag in zip(axes[:, 0], tags, strict=False):
        points = sorted((m.global_step, m.value) for m in metrics if m.tag == tag and m.value is not None)
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", linewidth=1)
        ax.set_ylabel(tag)
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("global step")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
