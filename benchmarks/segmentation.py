"""Accuracy and speed of the semi-automatic segmentation against reference masks.

Run by hand (never in the test suite)::

    python benchmarks/segmentation.py [--skip-totalsegmentator]

Cases (data read in place from ``../shared/data``; nothing is copied):

- 3D-IRCADb-01 patient 17 (portal-venous CT, manual masks): the liver from one click at the
  deepest interior point of the manual liver mask (maximum of its distance transform), and each
  tumour from a click at its centroid: with the manual liver, with the liver segmented here,
  without a liver, and from the long-axis caliper line (endpoints of the maximum axial
  diameter, centre to centre) with the manual liver.
- TotalSegmentator examples (liver label 5; model output, not manual truth): ``ct_sm``
  (non-contrast, 3 mm) and ``ct_dicom_series`` (contrast CT, JPEG 2000 DICOM read by
  :func:`dicomio.read_series`, its y-flipped NIfTI mask aligned by geometry).

For each: Dice, volume error (%) and wall time, and the time as a ratio to a reference measured
in the same run (one 3x3x3 SimpleITK median of the whole CT volume), so that machines of
different speed compare. Goals (issue 8): liver Dice >= 0.93 and |volume error| <= 3 % on
3D-IRCADb, tumour Dice >= 0.80. Ends with one JSON line of every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from scipy import ndimage as ndi

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import dicomio  # noqa: E402 (after the path set-up for an uninstalled checkout)
from dicomio.labels import read_labels, read_mask  # noqa: E402
from segmentation import (  # noqa: E402
    LiverParameters,
    SegmentationError,
    segment_lesion,
    segment_lesion_from_line,
    segment_liver,
)

DATA = (REPO / ".." / "shared" / "data").resolve()
IRCAD = DATA / "3dircadb1.17-liver-tumors" / "nifti"
TOTALSEG = DATA / "totalsegmentator-example"

Mask = npt.NDArray[np.bool_]


def dice(a: Mask, b: Mask) -> float:
    """Dice coefficient of two boolean masks."""
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


def deepest_point(mask: Mask, spacing: tuple[float, float, float]) -> tuple[int, int, int]:
    """The voxel farthest from the mask's surface; the image border counts as surface."""
    padded = np.pad(mask, 1)
    dist = ndi.distance_transform_edt(padded, sampling=spacing)[1:-1, 1:-1, 1:-1]
    k, j, i = np.unravel_index(int(np.argmax(dist)), mask.shape)
    return int(k), int(j), int(i)


def long_axis(
    mask: Mask, spacing: tuple[float, float, float]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """End points (k, j, i) of the longest axial in-plane diameter, pixel centre to centre."""
    best = (-1.0, np.zeros(3), np.zeros(3))
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        pts = np.argwhere(mask[k]).astype(np.float64)
        edge = pts[ndi.binary_erosion(mask[k])[tuple(pts.astype(int).T)] == 0]
        mm = edge * np.asarray(spacing[1:])
        d2 = ((mm[:, None, :] - mm[None, :, :]) ** 2).sum(-1)
        a, b = np.unravel_index(int(np.argmax(d2)), d2.shape)
        if d2[a, b] > best[0]:
            best = (float(d2[a, b]), np.r_[k, edge[a]], np.r_[k, edge[b]])
    return best[1], best[2]


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def reference_seconds(pixels: npt.NDArray[np.generic] | None) -> float:
    """Seconds of one 3x3x3 median of the whole volume: the same-run reference."""
    itk: Any = sitk
    image = itk.GetImageFromArray(np.asarray(pixels, dtype=np.float32))
    _, seconds = timed(lambda: itk.Median(image, [1, 1, 1]))
    return float(seconds)


def report(
    rows: list[dict[str, Any]],
    name: str,
    truth: Mask,
    mask: Mask | None,
    seconds: float,
    ref: float,
    voxel_ml: float,
    note: str = "",
) -> None:
    truth_ml = float(truth.sum()) * voxel_ml
    if mask is None:
        print(f"{name:<44} failed: {note}")
        rows.append({"case": name, "error": note})
        return
    ml = float(mask.sum()) * voxel_ml
    row = {
        "case": name,
        "dice": round(dice(mask, truth), 4),
        "volume_ml": round(ml, 1),
        "truth_ml": round(truth_ml, 1),
        "volume_error_pct": round(100.0 * (ml - truth_ml) / truth_ml, 2),
        "seconds": round(seconds, 2),
        "time_ratio": round(seconds / ref, 2),
    }
    rows.append(row)
    print(
        f"{name:<44} Dice {row['dice']:.4f}  volume {ml:8.1f} mL vs {truth_ml:8.1f} mL "
        f"({row['volume_error_pct']:+6.2f} %)  {seconds:5.1f} s ({row['time_ratio']:.1f} x ref)"
    )


def run_liver(
    rows: list[dict[str, Any]],
    name: str,
    volume: dicomio.ImageVolume,
    truth: Mask,
    parameters: LiverParameters | None = None,
) -> Mask | None:
    pixels = np.asarray(volume.pixels)
    sp = volume.spacing_zyx_mm
    voxel_ml = volume.geometry.voxel_volume_mm3 / 1000.0
    ref = reference_seconds(pixels)
    seed = deepest_point(truth, sp)
    try:
        result, seconds = timed(lambda: segment_liver(pixels, sp, seed, parameters))
    except SegmentationError as exc:
        report(rows, name, truth, None, 0.0, ref, voxel_ml, str(exc))
        return None
    report(rows, name, truth, result.mask, seconds, ref, voxel_ml)
    return np.asarray(result.mask)


def ircad(rows: list[dict[str, Any]]) -> None:
    volume = dicomio.read_series(IRCAD / "ct.nii.gz")
    assert volume.pixels is not None
    sp = volume.spacing_zyx_mm
    voxel_ml = volume.geometry.voxel_volume_mm3 / 1000.0
    liver = read_mask(IRCAD / "liver.nii.gz", volume)
    auto = run_liver(rows, "3D-IRCADb 1.17 liver (one click)", volume, liver)
    ref = reference_seconds(volume.pixels)
    pixels = np.asarray(volume.pixels)
    for n in (1, 2):
        tumour = read_mask(IRCAD / f"livertumor{n}.nii.gz", volume)
        centre = np.asarray(ndi.center_of_mass(tumour))
        start, end = long_axis(tumour, sp)
        livers = {"manual liver": liver, "auto liver": auto, "no liver": None}
        for label, mask in livers.items():
            if label == "auto liver" and auto is None:
                continue
            call = partial(segment_lesion, pixels, sp, centre, liver_mask=mask)
            lesion_case(rows, f"3D-IRCADb 1.17 tumour {n} ({label})", tumour, voxel_ml, ref, call)
        call = partial(segment_lesion_from_line, pixels, sp, start, end, liver_mask=liver)
        lesion_case(
            rows, f"3D-IRCADb 1.17 tumour {n} (line, manual liver)", tumour, voxel_ml, ref, call
        )


def lesion_case(
    rows: list[dict[str, Any]],
    name: str,
    truth: Mask,
    voxel_ml: float,
    ref: float,
    call: Callable[[], Any],
) -> None:
    try:
        result, seconds = timed(call)
    except SegmentationError as exc:
        report(rows, name, truth, None, 0.0, ref, voxel_ml, str(exc))
        return
    report(rows, name, truth, result.mask, seconds, ref, voxel_ml)


def totalsegmentator(rows: list[dict[str, Any]]) -> None:
    # ct_sm: a partial liver (the volume is cut through it); the plausibility floor is lowered.
    partial = LiverParameters(min_volume_ml=100.0)
    volume = dicomio.read_series(TOTALSEG / "ct_sm" / "example_ct_sm.nii.gz")
    truth = read_labels(TOTALSEG / "ct_sm" / "example_seg.nii.gz", volume).mask([5])
    run_liver(rows, "TotalSegmentator ct_sm liver (non-contrast)", volume, truth, partial)
    volume = dicomio.read_series(TOTALSEG / "ct_dicom_series" / "dicom")
    labels = read_labels(TOTALSEG / "ct_dicom_series" / "example_seg_dicom.nii.gz", volume)
    run_liver(rows, "TotalSegmentator ct_dicom_series liver", volume, labels.mask([5]), partial)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-totalsegmentator", action="store_true")
    args = parser.parse_args()
    if not IRCAD.is_dir():
        print(f"shared data not found at {DATA}", file=sys.stderr)
        return 1
    rows: list[dict[str, Any]] = []
    ircad(rows)
    if not args.skip_totalsegmentator:
        totalsegmentator(rows)
    print(json.dumps({"benchmark": "segmentation", "results": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
