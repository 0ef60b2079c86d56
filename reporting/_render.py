"""Matplotlib figures to PNG bytes, the same bytes for the same inputs.

No pyplot (thread-safe in the service), a fixed DPI, no timestamps or version strings in the file.
"""

from __future__ import annotations

import contextlib
import io
import unicodedata
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
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
    """Return a figure not registered with pyplot (safe to use from worker threads)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")


def plot_text(text: str) -> str:
    """Return user text (an arm, a subject id) fit for a plot label.

    Control characters are dropped and ``$`` is kept literal (matplotlib would read ``$...$`` as
    mathematics).
    """
    kept = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    return kept.replace("$", r"\$")


def to_png(fig: Figure) -> bytes:
    """Return the figure as PNG bytes without the Software metadata (deterministic).

    A character the font lacks is drawn as a box, not an error.
    """
    buf = io.BytesIO()
    with missing_glyphs_drawn():
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


@contextlib.contextmanager
def missing_glyphs_drawn() -> Iterator[None]:
    """Draw a character the font lacks as a box, without matplotlib's warning.

    A test run or a strict service would turn that warning into an error.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning
        )
        yield
