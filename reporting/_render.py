"""Matplotlib figures to PNG bytes: no pyplot (thread-safe in the service), fixed DPI, no
timestamps or version strings in the file, so the same inputs give the same bytes."""

from __future__ import annotations

import io
from typing import Final

from matplotlib.figure import Figure

#: Resolution of every PNG (pixels per inch).
DPI: Final = 100
#: Colours: liver outline, tumour outlines, long axis, short axis, zoom box.
LIVER_COLOR: Final = "#3cb44b"
TUMOR_COLOR: Final = "#ffe119"
LONG_AXIS_COLOR: Final = "#e6194b"
SHORT_AXIS_COLOR: Final = "#42d4f4"
BOX_COLOR: Final = "#f58231"
#: Response colours shared by the plots and the HTML report.
ARM_COLORS: Final = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure not registered with pyplot (safe to use from worker threads)."""
    return Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes without the Software metadata (deterministic)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()
