"""Key images: each lesion on the slice of its long axis, with both axes drawn and labelled.

Each PNG (1000 x 500 pixels) has two panels: the whole slice with the liver outline (green), the
tumour outlines (yellow) and an orange box around the lesion; and that box enlarged, with the
long axis (red) and the perpendicular short axis (cyan) labelled in mm. Pixels are displayed
with their true aspect ratio (row and column spacing). Outlines are iso-contours at 0.5 of the
slice's masks (:func:`skimage.measure.find_contours`).

Display window: CT is shown in the liver window **W 150 / L 90 HU** (:data:`LIVER_WINDOW`),
narrow enough to separate metastases from parenchyma on portal venous images; pass
:data:`ABDOMEN_WINDOW` (W 400 / L 40 HU) for the standard soft-tissue window, or ``None``
for MR and other non-calibrated images (1st-99th percentile of the slice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matplotlib.axes import Axes

from reporting._render import (
    BOX_COLOR,
    LIVER_COLOR,
    LONG_AXIS_COLOR,
    SHORT_AXIS_COLOR,
    TUMOR_COLOR,
    new_figure,
    to_png,
)
from reporting.errors import ReportingInputError
from reporting.model import LesionMeasurement, MeasurementSummary

__all__ = ["ABDOMEN_WINDOW", "LIVER_WINDOW", "Window", "key_images", "render_key_image"]

#: Half-width of the enlarged view: the larger of this and 1.5 x the long axis (mm).
_MIN_HALF_FOV_MM: Final = 30.0


@dataclass(frozen=True, slots=True)
class Window:
    """A display window: width and level (centre) in HU."""

    width: float
    level: float

    @property
    def bounds(self) -> tuple[float, float]:
        """Lowest and highest HU shown: level -/+ half the width."""
        return self.level - self.width / 2.0, self.level + self.width / 2.0


LIVER_WINDOW: Final = Window(150.0, 90.0)
ABDOMEN_WINDOW: Final = Window(400.0, 40.0)


def _bounds(image: npt.NDArray[Any], window: Window | None) -> tuple[float, float]:
    if window is not None:
        return window.bounds
    lo, hi = np.percentile(image, [1.0, 99.0])
    return float(lo), (float(hi) if hi > lo else float(lo) + 1.0)


def _outline(ax: Axes, mask: npt.NDArray[np.bool_] | None, color: str) -> None:
    if mask is None or not mask.any():
        return
    from skimage.measure import find_contours

    padded = np.pad(mask.astype(np.float32), 1)
    for contour in find_contours(padded, 0.5):  # type: ignore[no-untyped-call]
        ax.plot(contour[:, 1] - 1, contour[:, 0] - 1, color=color, linewidth=1.0)


def _axis(ax: Axes, pts: Any, color: str, label: str) -> None:
    (r0, c0), (r1, c1) = pts
    ax.plot([c0, c1], [r0, r1], color=color, linewidth=2.0, marker="o", markersize=3)
    ax.annotate(
        label,
        xy=(c1, r1),
        xytext=(6, 6),
        textcoords="offset points",
        color="black",
        fontsize=9,
        fontweight="bold",
        bbox={"boxstyle": "round,pad=0.2", "facecolor": color, "edgecolor": "none", "alpha": 0.9},
    )


def _box(
    lesion: LesionMeasurement,
    shape: tuple[int, int],
    spacing_yx_mm: tuple[float, float],
) -> tuple[float, float, float, float]:
    """Enlarged view as (row0, row1, col0, col1), clamped to the image."""
    pts = np.asarray(lesion.long_axis_endpoints_rc or ((0, 0), (0, 0)), dtype=float)
    centre = pts.mean(axis=0)
    half_mm = max(_MIN_HALF_FOV_MM, 1.5 * lesion.long_axis_mm)
    half_r, half_c = half_mm / spacing_yx_mm[0], half_mm / spacing_yx_mm[1]
    r0, r1 = max(-0.5, centre[0] - half_r), min(shape[0] - 0.5, centre[0] + half_r)
    c0, c1 = max(-0.5, centre[1] - half_c), min(shape[1] - 0.5, centre[1] + half_c)
    return r0, r1, c0, c1


def render_key_image(
    image: npt.NDArray[Any],
    spacing_yx_mm: tuple[float, float],
    lesion: LesionMeasurement,
    *,
    liver: npt.NDArray[np.bool_] | None = None,
    tumor: npt.NDArray[np.bool_] | None = None,
    window: Window | None = LIVER_WINDOW,
) -> bytes:
    """PNG of one lesion's key slice (see the module docstring).

    Parameters
    ----------
    image
        The slice ``(y, x)`` of the lesion's long axis (``pixels[lesion.slice_index]``), in HU.
    spacing_yx_mm
        Row and column spacing in mm.
    lesion
        The lesion; its long and short axis endpoints are drawn.
    liver, tumor
        The slice of the liver and tumour masks, for the outlines.
    window
        Display window; ``None`` scales to the slice's 1st-99th percentile.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise ReportingInputError(f"key image: expected a 2-D slice, got {img.ndim}-D")
    for name, mask in (("liver", liver), ("tumor", tumor)):
        if mask is not None and np.shape(mask) != img.shape:
            raise ReportingInputError(
                f"key image: {name} slice shape {np.shape(mask)} differs from the image {img.shape}"
            )
    if lesion.long_axis_endpoints_rc is None:
        raise ReportingInputError(f"lesion {lesion.lesion_id}: no long-axis endpoints to draw")
    vmin, vmax = _bounds(img, window)
    aspect = spacing_yx_mm[0] / spacing_yx_mm[1]
    from matplotlib.patches import Rectangle

    fig = new_figure(10.0, 5.0)
    overview, zoom = fig.subplots(1, 2)
    r0, r1, c0, c1 = _box(lesion, img.shape, spacing_yx_mm)
    for ax in (overview, zoom):
        ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, aspect=aspect, interpolation="nearest")
        _outline(ax, None if liver is None else np.asarray(liver, bool), LIVER_COLOR)
        _outline(ax, None if tumor is None else np.asarray(tumor, bool), TUMOR_COLOR)
        ax.set_xticks([])
        ax.set_yticks([])
    overview.add_patch(
        Rectangle((c0, r0), c1 - c0, r1 - r0, fill=False, edgecolor=BOX_COLOR, linewidth=1.5)
    )
    overview.set_title(f"{lesion.lesion_id}: slice {lesion.slice_index + 1}", fontsize=11)
    zoom.set_xlim(c0, c1)
    zoom.set_ylim(r1, r0)
    _axis(
        zoom, lesion.long_axis_endpoints_rc, LONG_AXIS_COLOR, f"long {lesion.long_axis_mm:.1f} mm"
    )
    if lesion.short_axis_endpoints_rc is not None:
        _axis(
            zoom,
            lesion.short_axis_endpoints_rc,
            SHORT_AXIS_COLOR,
            f"short {lesion.short_axis_mm:.1f} mm",
        )
    win = "auto window" if window is None else f"W {window.width:g} / L {window.level:g}"
    zoom.set_title(
        f"long {lesion.long_axis_mm:.1f} mm x short {lesion.short_axis_mm:.1f} mm  ({win})",
        fontsize=11,
    )
    return to_png(fig)


def key_images(
    pixels: npt.NDArray[Any],
    measurement: Mapping[str, Any] | MeasurementSummary,
    *,
    liver_mask: npt.NDArray[np.bool_] | None = None,
    tumor_mask: npt.NDArray[np.bool_] | None = None,
    window: Window | None = LIVER_WINDOW,
) -> dict[str, bytes]:
    """Key image PNG of every lesion of a measurement, keyed by lesion id (measurement order).

    ``pixels`` is the series volume ``(z, y, x)`` (``ImageVolume.pixels``); masks are on the same
    grid. The pixel spacing is the measurement's ``spacing_mm``.
    """
    m = (
        measurement
        if isinstance(measurement, MeasurementSummary)
        else (MeasurementSummary.from_json(measurement))
    )
    volume = np.asarray(pixels)
    if volume.ndim != 3:
        raise ReportingInputError(f"key images: expected a (z, y, x) volume, got {volume.ndim}-D")
    spacing = (m.spacing_zyx_mm[1], m.spacing_zyx_mm[2])
    out: dict[str, bytes] = {}
    for lesion in m.lesions:
        k = lesion.slice_index
        if k >= volume.shape[0]:
            raise ReportingInputError(
                f"lesion {lesion.lesion_id} lies on slice {k}; the volume has {volume.shape[0]}"
            )
        out[lesion.lesion_id] = render_key_image(
            volume[k],
            spacing,
            lesion,
            liver=None if liver_mask is None else np.asarray(liver_mask[k], dtype=bool),
            tumor=None if tumor_mask is None else np.asarray(tumor_mask[k], dtype=bool),
            window=window,
        )
    return out
