"""Measurement results made to order: a complete stored document from a few figures.

For tests that need a measurement of record with given burden and lesions without measuring a
series; the documents are the typed result's own JSON, so every reader sees what a finished job
would have written.
"""

from __future__ import annotations

from app.measure.result import (
    Eligibility,
    InputHashes,
    LesionResult,
    MeasurementResult,
    SeriesSummary,
)

_SERIES = SeriesSummary(
    series_instance_uid="1.2.3",
    study_instance_uid="1.2",
    modality="CT",
    slices=10,
    rows=64,
    columns=64,
    spacing_mm=(5.0, 1.0, 1.0),
    slice_thickness_mm=5.0,
    voxel_volume_mm3=5.0,
    phase=None,
    missing_slices=(),
    source_format="dicom",
)


def lesion(
    n: int, long_axis_mm: float, short_axis_mm: float | None = None, hepatic: bool | None = True
) -> LesionResult:
    """Lesion ``L{n}`` with these diameters (short axis: half the long one unless given)."""
    return LesionResult(
        lesion_id=f"L{n}",
        volume_ml=round(long_axis_mm**3 / 2000.0, 3),
        voxels=100,
        long_axis_mm=long_axis_mm,
        short_axis_mm=long_axis_mm / 2 if short_axis_mm is None else short_axis_mm,
        slice_index=5,
        measurable=long_axis_mm >= 10.0,
        long_axis_endpoints_rc=((10.0, 10.0), (10.0, 10.0 + long_axis_mm)),
        short_axis_endpoints_rc=((8.0, 15.0), (12.0, 15.0)),
        organ="liver" if hepatic is not False else "other",
        hepatic=hepatic,
    )


def made_result(
    burden_fraction: float | None,
    lesions: tuple[LesionResult, ...] = (),
    *,
    flags: Eligibility | None = None,
    hepatic_share: float | None = None,
    algorithm_version: str = "0.1.0",
) -> MeasurementResult:
    """A result with this burden (of a 1,000 mL liver; ``None``: no liver) and these lesions.

    ``flags`` default to what the burden and the lesions say.
    """
    liver = None if burden_fraction is None else 1000.0
    if flags is None:
        flags = Eligibility(
            burden_le_70pct=None if burden_fraction is None else burden_fraction <= 0.7,
            burden_gt_25pct=None if burden_fraction is None else burden_fraction > 0.25,
            measurable_liver_lesion=any(x.measurable for x in lesions if x.hepatic is not False),
        )
    return MeasurementResult(
        series=_SERIES,
        liver_volume_ml=liver,
        tumor_volume_ml=0.0 if liver is None else liver * (burden_fraction or 0.0),
        burden_fraction=burden_fraction,
        eligibility=flags,
        lesions=lesions,
        liver_voxels=None if liver is None else 200_000,
        tumor_voxels=sum(x.voxels for x in lesions),
        inputs=InputHashes(
            series_sha256="a" * 64,
            series_files=10,
            labels_sha256=("b" * 64,),
            input_sha256="c" * 64,
        ),
        algorithm_version=algorithm_version,
        hepatic_share=hepatic_share,
    )
