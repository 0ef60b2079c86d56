"""The one measurement pipeline: a series plus its segmentation in, the measure JSON out.

``liverburden measure``, the batch runner and the service's measurement jobs all call
:func:`run_measurement`, so the same inputs give the same numbers everywhere
(contracts/measure.md).

Flow: dicomio reads the series header (pixels are not needed to measure masks) and the
segmentation onto the series grid -> volumetrics (lesions, volumes, burden) -> recist (diameters,
measurability) -> a plain JSON-ready dict.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import dicomio
import volumetrics
from app.measure.masks import MeasuredMasks
from app.measure.result import (
    Eligibility,
    InputHashes,
    LesionResult,
    MeasurementResult,
    SeriesSummary,
)
from app.version import ALGORITHM_VERSION
from recist import criteria
from recist.diameters import Diameters, measure_diameters

logger = logging.getLogger(__name__)

ProgressFn = Callable[[float, str], None]

__all__ = [
    "MeasureRequest",
    "Measured",
    "input_digest",
    "measure_series",
    "preload",
    "run_measurement",
]


@dataclass(frozen=True, slots=True)
class MeasureRequest:
    """What to measure. Exactly one of ``labels`` or (``liver_mask`` / ``tumor_masks``) is used."""

    series: Path
    labels: Path | None = None
    liver_label: str | None = None
    tumor_labels: tuple[str, ...] = ()
    liver_mask: Path | None = None
    tumor_masks: tuple[Path, ...] = ()
    series_uid: str | None = None
    #: Tumours outside the liver: (label, organ or None) each; measured as lesions of that organ,
    #: never hepatic (contracts/trial-record.md, Lesions outside the liver).
    other_tumor_labels: tuple[tuple[str, str | None], ...] = ()

    def __post_init__(self) -> None:
        uses_masks = self.liver_mask is not None or bool(self.tumor_masks)
        if self.other_tumor_labels and self.labels is None:
            raise dicomio.LabelError("--other-tumor-label applies to --labels only")
        if self.labels is not None and uses_masks:
            raise dicomio.LabelError("give either --labels or --liver-mask/--tumor-mask, not both")
        if self.labels is None and not uses_masks:
            raise dicomio.LabelError(
                "no segmentation given: expected --labels PATH, or --liver-mask and --tumor-mask"
            )
        if uses_masks and (self.liver_label is not None or self.tumor_labels):
            raise dicomio.LabelError(
                "--liver-label/--tumor-label apply to --labels only, not to binary mask files"
            )


def _noop(_fraction: float, _message: str) -> None:
    return None


def _digest(parts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def input_digest(
    series_sha256: Sequence[str], labels_sha256: Sequence[str], choices: dict[str, Any]
) -> str:
    """One SHA-256 over the input files' hashes and the label choices (not the version)."""
    return _digest(
        [
            "series:" + ",".join(sorted(series_sha256)),
            "labels:" + ",".join(labels_sha256),
            "choices:" + json.dumps(choices, sort_keys=True),
        ]
    )


def _crop_measure(
    mask: npt.NDArray[np.bool_],
    spacing: tuple[float, float, float],
    origin: tuple[int, int, int],
) -> Diameters:
    """Diameters of one lesion's mask, which lies in a region starting at ``origin`` of the grid."""
    box = dicomio.nonzero_box(mask)
    assert box is not None
    offset = tuple(o + b.start for o, b in zip(origin, box, strict=True))
    return measure_diameters(mask[box], spacing, offset_zyx=offset)


def _whole(shape: tuple[int, int, int]) -> dicomio.Region:
    return (slice(0, shape[0]), slice(0, shape[1]), slice(0, shape[2]))


def _bridges_in(region: dicomio.Region, missing: Sequence[int]) -> list[int]:
    """Return the series' missing slices that lie inside ``region``, as indices of the region."""
    z = region[0]
    return [g - z.start for g in missing if z.start <= g < z.stop]


def _touches(
    liver: npt.NDArray[np.bool_], lesion: npt.NDArray[np.bool_], box: dicomio.Region
) -> bool:
    """Whether a lesion (its mask cropped at ``box``) has a voxel in or 26-adjacent to the liver.

    Only the box grown by one voxel is looked at: a 26-neighbourhood dilation by shifted views,
    no scipy on the measurement path.
    """
    lo = [max(b.start - 1, 0) for b in box]
    full: tuple[int, ...] = np.shape(liver)
    hi = [min(b.stop + 1, n) for b, n in zip(box, full, strict=True)]
    window = liver[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    placed = np.zeros(window.shape, dtype=bool)
    placed[tuple(slice(b.start - low, b.stop - low) for b, low in zip(box, lo, strict=True))] = (
        lesion
    )
    padded = np.pad(placed, 1)
    grown = np.zeros_like(placed)
    size: tuple[int, ...] = np.shape(placed)
    for dz in range(3):
        for dy in range(3):
            for dx in range(3):
                grown |= padded[dz : dz + size[0], dy : dy + size[1], dx : dx + size[2]]
    return bool((grown & window).any())


def _other_groups(
    labelmap: dicomio.LabelMap,
    others: Sequence[tuple[str, str | None]],
    liver_ids: Sequence[int],
    tumor_ids: Sequence[int],
) -> list[tuple[str, list[int]]]:
    """``(organ, segment numbers)`` of each ``--other-tumor-label``; labels are never reused."""
    taken = set(liver_ids) | set(tumor_ids)
    groups: list[tuple[str, list[int]]] = []
    for spec, organ in others:
        ids = dicomio.select_segments(labelmap, spec, "tumor")
        clash = sorted(set(ids) & taken)
        if clash:
            raise dicomio.LabelError(
                f"label(s) {clash} of --other-tumor-label {spec!r} are already chosen as liver, "
                "tumour or another organ; expected distinct labels"
            )
        taken.update(ids)
        if organ is None:
            names = [labelmap.segment(n).name for n in ids]
            organ = names[0] if len(names) == 1 and names[0] else "other"
        groups.append((organ.strip() or "other", ids))
    return groups


_Paint = Callable[[npt.NDArray[np.int32], int], None]


def _paint_mask(mask: npt.NDArray[np.bool_]) -> _Paint:
    """Write a lesion's number where its own mask is (a voxel already taken keeps its lesion)."""

    def paint(out: npt.NDArray[np.int32], number: int) -> None:
        out[mask & (out == 0)] = number

    return paint


def _paint_component(labels: npt.NDArray[np.int32], box: dicomio.Region, label: int) -> _Paint:
    """Write a lesion's number on its connected component of the tumour mask."""

    def paint(out: npt.NDArray[np.int32], number: int) -> None:
        view = out[box]
        view[(labels[box] == label) & (view == 0)] = number

    return paint


def _lesion_record(
    volume_ml: float,
    voxels: int,
    diam: Diameters,
    thickness_mm: float | None,
    segment_name: str | None,
) -> LesionResult:
    """Make a lesion before it is numbered (``lesion_id`` empty) and placed in an organ."""
    return LesionResult(
        lesion_id="",
        volume_ml=volume_ml,
        voxels=voxels,
        long_axis_mm=diam.long_axis_mm,
        short_axis_mm=diam.short_axis_mm,
        slice_index=diam.slice_index,
        measurable=criteria.is_measurable(diam.long_axis_mm, thickness_mm),
        long_axis_endpoints_rc=tuple((float(r), float(c)) for r, c in diam.long_axis_endpoints_rc),
        short_axis_endpoints_rc=tuple(
            (float(r), float(c)) for r, c in diam.short_axis_endpoints_rc
        ),
        segment=segment_name,
    )


def run_measurement(req: MeasureRequest, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Measure one series; return the contract's JSON as a dict (plus documented extras).

    Raises
    ------
    dicomio.DicomIOError, volumetrics.VolumetricsError, recist.RecistError
        Bad input: the message says what was wrong and what was expected.
    """
    return measure_series(req, progress).result.to_json()


@dataclass(frozen=True, eq=False)
class Measured:
    """A measurement: its result (``result``) and the masks its lesions are (``masks``)."""

    result: MeasurementResult
    masks: MeasuredMasks


def measure_series(req: MeasureRequest, progress: ProgressFn | None = None) -> Measured:
    """Measure one series: the result of :func:`run_measurement` and the masks it was made from.

    Raises
    ------
    dicomio.DicomIOError, volumetrics.VolumetricsError, recist.RecistError
        Bad input: the message says what was wrong and what was expected.
    """
    report = progress or _noop
    report(0.0, "reading series")
    labelmap: dicomio.LabelMap | None = None
    if req.labels is not None:  # the label file is read while the series' headers are scanned
        volume, labelmap = dicomio.read_series_and_labels(
            req.series, req.labels, req.series_uid, pixels=False
        )
    else:
        volume = dicomio.read_series(req.series, req.series_uid, pixels=False)
    geometry = volume.geometry
    info = volume.info
    report(0.3, "reading segmentation")

    segment_names: list[str | None] = []
    lesion_masks: list[npt.NDArray[np.bool_]] | None = None
    choices: dict[str, Any]
    if labelmap is not None:
        labels_sha = list(labelmap.file_sha256)
        liver_spec = req.liver_label
        liver_ids = dicomio.select_segments(labelmap, liver_spec, "liver")
        tumor_ids: list[int] = []
        if req.tumor_labels:
            for spec in req.tumor_labels:
                for n in dicomio.select_segments(labelmap, spec, "tumor"):
                    if n not in tumor_ids:
                        tumor_ids.append(n)
        else:
            tumor_ids = dicomio.select_segments(labelmap, None, "tumor")
        overlap = set(liver_ids) & set(tumor_ids)
        if overlap:
            raise dicomio.LabelError(
                f"label(s) {sorted(overlap)} chosen as both liver and tumour; "
                "expected distinct labels"
            )
        other_groups = _other_groups(labelmap, req.other_tumor_labels, liver_ids, tumor_ids)
        liver_none = liver_spec is not None and liver_spec.strip().lower() == "none"
        # Everything is measured inside the box of the labelled voxels: same counts, components
        # and diameters as on the whole grid, with masks a fraction of its size.
        region = labelmap.bounding_box() or _whole(geometry.shape_zyx)
        liver_mask = None if liver_none else labelmap.mask(liver_ids, region)
        tumor_mask = labelmap.mask(tumor_ids, region)
        segments = [labelmap.segment(n) for n in tumor_ids]
        if len(segments) > 1 and all(s.single_lesion for s in segments):
            lesion_masks = [labelmap.mask([s.number], region) for s in segments]
            segment_names = [s.name for s in segments]
        other_masks = [(organ, labelmap.mask(ids, region)) for organ, ids in other_groups]
        choices = {
            "liver_label": liver_spec,
            "liver_segments": liver_ids,
            "tumor_labels": list(req.tumor_labels),
            "tumor_segments": tumor_ids,
        }
        if req.other_tumor_labels:  # only then: earlier requests keep their input digest
            choices["other_tumor_labels"] = [list(o) for o in req.other_tumor_labels]
            choices["other_tumor_segments"] = [ids for _, ids in other_groups]
        warnings = list(labelmap.warnings)
        del labelmap  # the masks are all we need from here on: free the label array early
    else:
        liver_mask = (
            dicomio.read_mask(req.liver_mask, volume) if req.liver_mask is not None else None
        )
        labels_sha = []
        if req.liver_mask is not None:
            labels_sha.append(dicomio.sha256_file(req.liver_mask))
        tumor_mask = np.zeros(geometry.shape_zyx, dtype=bool)
        for path in req.tumor_masks:
            tumor_mask |= dicomio.read_mask(path, volume)
            labels_sha.append(dicomio.sha256_file(path))
        choices = {"liver_mask": req.liver_mask is not None, "tumor_masks": len(req.tumor_masks)}
        warnings = []
        other_masks = []
        boxes = [dicomio.nonzero_box(tumor_mask)]
        if liver_mask is not None:
            boxes.append(dicomio.nonzero_box(liver_mask))
        region = dicomio.union_box(boxes) or _whole(geometry.shape_zyx)
        tumor_mask = tumor_mask[region]
        liver_mask = liver_mask[region] if liver_mask is not None else None

    report(0.6, "measuring volumes")
    spacing = geometry.spacing_zyx_mm
    burden, lesion_labels = volumetrics.measure_burden(
        tumor_mask,
        liver_mask,
        spacing,
        voxel_volume_mm3=geometry.voxel_volume_mm3,
        lesion_masks=lesion_masks,
        bridge_slices=_bridges_in(region, info.missing_slices),
    )
    origin = (region[0].start, region[1].start, region[2].start)
    report(0.8, "measuring diameters")
    thickness = info.slice_thickness_mm
    thickness_for_rule = thickness if thickness is not None else spacing[0]
    measured: list[tuple[LesionResult, _Paint]] = []
    if lesion_masks is not None:
        for lv, mask, name in zip(burden.lesions, lesion_masks, segment_names, strict=True):
            diam = _crop_measure(mask, spacing, origin)
            rec = _lesion_record(lv.volume_ml, lv.voxel_count, diam, thickness_for_rule, name)
            measured.append((rec, _paint_mask(mask)))
    else:
        for lv in burden.lesions:
            crop = lesion_labels[lv.bbox_zyx] == lv.label
            offset = tuple(o + b.start for o, b in zip(origin, lv.bbox_zyx, strict=True))
            diam = measure_diameters(crop, spacing, offset_zyx=offset)
            rec = _lesion_record(lv.volume_ml, lv.voxel_count, diam, thickness_for_rule, None)
            measured.append((rec, _paint_component(lesion_labels, lv.bbox_zyx, lv.label)))
    hepatic_burden = burden
    extra_voxels = 0
    if liver_mask is None:  # no liver: the tumour labels' lesions are taken as hepatic
        measured = [(replace(rec, organ="liver", hepatic=True), paint) for rec, paint in measured]
    else:
        outside = np.zeros(tumor_mask.shape, dtype=bool)
        for n, ((rec, paint), lv) in enumerate(zip(measured, burden.lesions, strict=True)):
            crop = lesion_labels[lv.bbox_zyx] == lv.label
            hepatic = _touches(liver_mask, crop, lv.bbox_zyx)
            measured[n] = (
                replace(rec, organ="liver" if hepatic else "other", hepatic=hepatic),
                paint,
            )
            if not hepatic:
                outside[lv.bbox_zyx] |= crop
                warnings.append(
                    f"a lesion of the tumour label(s) ({lv.volume_ml:.3f} mL, slice "
                    f"{origin[0] + rec.slice_index}) has no voxel in or next to the liver: "
                    "measured as extrahepatic, left out of the liver tumour burden"
                )
        if outside.any():
            extra_voxels += int(np.count_nonzero(outside))
            hepatic_burden, _ = volumetrics.measure_burden(
                tumor_mask & ~outside,
                liver_mask,
                spacing,
                voxel_volume_mm3=geometry.voxel_volume_mm3,
                bridge_slices=_bridges_in(region, info.missing_slices),
            )
    all_tumor = tumor_mask
    for organ, other in other_masks:
        if not other.any():
            continue
        all_tumor = all_tumor | other
        other_burden, other_labels = volumetrics.measure_burden(
            other,
            None,
            spacing,
            voxel_volume_mm3=geometry.voxel_volume_mm3,
            bridge_slices=_bridges_in(region, info.missing_slices),
        )
        extra_voxels += other_burden.tumor_voxels
        for lv in other_burden.lesions:
            crop = other_labels[lv.bbox_zyx] == lv.label
            offset = tuple(o + b.start for o, b in zip(origin, lv.bbox_zyx, strict=True))
            diam = measure_diameters(crop, spacing, offset_zyx=offset)
            rec = _lesion_record(lv.volume_ml, lv.voxel_count, diam, thickness_for_rule, None)
            rec = replace(rec, organ=organ, hepatic=False)
            measured.append((rec, _paint_component(other_labels, lv.bbox_zyx, lv.label)))
    measured.sort(key=lambda e: (-e[0].long_axis_mm, e[0].slice_index, -e[0].voxels))
    lesion_numbers = np.zeros(tumor_mask.shape, dtype=np.int32)
    for number, (_, paint) in enumerate(measured, start=1):
        paint(lesion_numbers, number)
    lesions = tuple(replace(rec, lesion_id=f"L{i}") for i, (rec, _) in enumerate(measured, start=1))
    masks = MeasuredMasks(
        shape_zyx=geometry.shape_zyx,
        offset_zyx=origin,
        lesions=lesion_numbers,
        tumor=all_tumor,
        liver=liver_mask,
        affine=np.asarray(geometry.affine),
    )

    any_measurable = any(r.measurable for r in lesions)
    voxel_ml = geometry.voxel_volume_mm3 / 1000.0
    hepatic_voxels = hepatic_burden.tumor_voxels
    all_voxels = hepatic_voxels + extra_voxels
    series_sha = list(info.file_sha256)
    result = MeasurementResult(
        series=SeriesSummary(
            series_instance_uid=info.series_instance_uid,
            study_instance_uid=info.study_instance_uid,
            modality=info.modality,
            slices=geometry.shape_zyx[0],
            rows=geometry.shape_zyx[1],
            columns=geometry.shape_zyx[2],
            spacing_mm=spacing,
            slice_thickness_mm=thickness,
            voxel_volume_mm3=geometry.voxel_volume_mm3,
            phase=str(info.phase),
            missing_slices=tuple(info.missing_slices),
            source_format=info.source_format,
        ),
        liver_volume_ml=hepatic_burden.liver_volume_ml,
        tumor_volume_ml=hepatic_burden.tumor_volume_ml,
        burden_fraction=hepatic_burden.burden_fraction,
        extrahepatic_tumor_volume_ml=extra_voxels * voxel_ml,
        hepatic_share=hepatic_voxels / all_voxels if all_voxels else None,
        eligibility=Eligibility(
            burden_le_70pct=hepatic_burden.burden_le_70pct,
            burden_gt_25pct=hepatic_burden.burden_gt_25pct,
            measurable_liver_lesion=(
                None if liver_mask is None else any(r.measurable and r.hepatic for r in lesions)
            ),
            measurable_lesion=any_measurable,
            # exactly, on voxel counts: the hepatic share is over one half
            burden_dominant_in_liver=2 * hepatic_voxels > all_voxels if all_voxels else None,
        ),
        lesions=lesions,
        liver_voxels=hepatic_burden.liver_voxels,
        tumor_voxels=hepatic_voxels,
        extrahepatic_tumor_voxels=extra_voxels,
        label_choices=choices,
        inputs=InputHashes(
            series_sha256=_digest(sorted(series_sha)),
            series_files=len(series_sha),
            labels_sha256=tuple(labels_sha),
            input_sha256=input_digest(series_sha, labels_sha, choices),
        ),
        warnings=(*info.warnings, *warnings),
        algorithm_version=ALGORITHM_VERSION,
    )
    report(1.0, "done")
    logger.info(
        "measured series: %d slices, %d lesions, burden %s",
        geometry.shape_zyx[0],
        len(lesions),
        hepatic_burden.burden_fraction,
    )
    return Measured(result, masks)


def preload() -> None:
    """Import now what :func:`run_measurement` would import on its first call.

    For worker processes: ``liverburden worker`` calls it before forking its pool, so that no
    measurement pays for imports. dicomio loads its readers' libraries (:func:`dicomio.preload`);
    the rest is this module's own packages. Importing ``app.measure.pipeline`` stays as cheap as
    before: nothing here runs at import.
    """
    import importlib

    dicomio.preload()
    for name in ("volumetrics", "recist.diameters"):
        importlib.import_module(name)
