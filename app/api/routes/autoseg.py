"""``POST /v1/segmentations/auto/liver`` and ``.../auto/lesion``: semi-automatic segmentation.

The API equivalents of ``liverburden segment`` (contracts/segment.md; issue 8). Points are DICOM
patient coordinates (LPS) in mm, as a viewer reports a click. The result is stored as a new
segmentation of the series (app.autoseg) and answered 201 with its ``segmentation_upload_id``,
which ``POST /v1/measurements`` takes directly.

Both are plain ``def`` routes (FastAPI's thread pool): a liver takes a few seconds, so a caller
gets its segmentation id in the same request, as with ``POST /v1/segmentations``. The measurement
job model stays for measurements only.
"""

from __future__ import annotations

import math
from typing import Annotated, Self

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.deps import BlobsDep, SessionDep, SettingsDep, require
from app.api.responses import problems
from app.auth.keys import Permission, Principal
from app.autoseg.autoseg import (
    LIVER_LABEL,
    TUMOR_LABEL,
    AutoLesion,
    AutoLiver,
    auto_segment_lesion,
    auto_segment_liver,
)

__all__ = [
    "AutoLesionCreate",
    "AutoLesionPublic",
    "AutoLiverCreate",
    "AutoLiverPublic",
    "router",
]

router = APIRouter(tags=["segmentations"])

Segmenter = Annotated[Principal, Depends(require(Permission.SEGMENT))]
Coordinate = Annotated[float, Field(allow_inf_nan=False, ge=-1e5, le=1e5)]
PointLps = tuple[Coordinate, Coordinate, Coordinate]
_UID = r"^[0-9]+(\.[0-9]+)*$"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AutoLiverCreate(_In):
    """A stored CT series and one click inside its liver (LPS, mm)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "series_instance_uid": "1.2.826.0.1.3680043.8.498.2",
                    "seed_lps_mm": [-51.75, -3.75, -1.25],
                }
            ]
        }
    )
    series_instance_uid: str = Field(pattern=_UID, max_length=64)
    seed_lps_mm: PointLps = Field(description="X, Y, Z in mm (DICOM patient coordinates, LPS).")


class AutoLesionCreate(_In):
    """A click at a lesion's centre or its long-axis caliper, optionally added to a segmentation."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "series_instance_uid": "1.2.826.0.1.3680043.8.498.2",
                    "seed_lps_mm": [-86.25, 0.75, 1.25],
                    "base_segmentation_upload_id": "0b7c...",
                }
            ]
        }
    )
    series_instance_uid: str = Field(pattern=_UID, max_length=64)
    seed_lps_mm: PointLps | None = Field(default=None, description="The lesion's centre.")
    line_lps_mm: tuple[PointLps, PointLps] | None = Field(
        default=None, description="The long-axis caliper's two end points."
    )
    base_segmentation_upload_id: str | None = Field(
        default=None,
        max_length=36,
        description="A segmentation of this series whose liver (labels 1, 2) constrains the "
        "lesion; the result is a new segmentation: a copy of it with the lesion as label 2.",
    )
    max_diameter_mm: float | None = Field(
        default=None, gt=0, le=500, description="Largest diameter to search (seed only)."
    )

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.seed_lps_mm is None) == (self.line_lps_mm is None):
            raise ValueError("give exactly one of seed_lps_mm or line_lps_mm")
        if self.line_lps_mm is not None:
            a, b = self.line_lps_mm
            if math.dist(a, b) == 0.0:
                raise ValueError("line_lps_mm: the two end points coincide")
            if self.max_diameter_mm is not None:
                raise ValueError("max_diameter_mm applies to seed_lps_mm only")
        return self


class _StoredPublic(BaseModel):
    segmentation_upload_id: str
    series_instance_uid: str
    sha256: str
    size_bytes: int
    file_suffix: str
    labels: dict[str, int | None] = Field(
        description="Label values of the stored map: liver (None when absent) and tumor."
    )
    warnings: list[str]


class AutoLiverPublic(_StoredPublic):
    """The stored liver segmentation and what a reader needs to judge it."""

    liver_volume_ml: float
    seed_hu: float
    seed_to_core_mm: float

    @classmethod
    def from_domain(cls, r: AutoLiver) -> Self:
        s = r.stored
        return cls(
            segmentation_upload_id=s.segmentation_upload_id,
            series_instance_uid=s.series_instance_uid,
            sha256=s.sha256,
            size_bytes=s.size_bytes,
            file_suffix=s.file_suffix,
            labels={"liver": LIVER_LABEL, "tumor": None},
            warnings=list(r.warnings),
            liver_volume_ml=r.liver_volume_ml,
            seed_hu=r.seed_hu,
            seed_to_core_mm=r.seed_to_core_mm,
        )


class AutoLesionPublic(_StoredPublic):
    """The stored segmentation with the lesion, its size and contrast."""

    lesion_volume_ml: float
    long_axis_mm: float | None
    short_axis_mm: float | None
    slice_index: int | None
    contrast: str
    seed_hu: float
    background_hu: float
    base_segmentation_upload_id: str | None

    @classmethod
    def from_domain(cls, r: AutoLesion) -> Self:
        s = r.stored
        return cls(
            segmentation_upload_id=s.segmentation_upload_id,
            series_instance_uid=s.series_instance_uid,
            sha256=s.sha256,
            size_bytes=s.size_bytes,
            file_suffix=s.file_suffix,
            labels={"liver": r.liver_label, "tumor": TUMOR_LABEL},
            warnings=list(r.warnings),
            lesion_volume_ml=r.lesion_volume_ml,
            long_axis_mm=r.long_axis_mm,
            short_axis_mm=r.short_axis_mm,
            slice_index=r.slice_index,
            contrast=r.contrast,
            seed_hu=r.seed_hu,
            background_hu=r.background_hu,
            base_segmentation_upload_id=r.base_segmentation_upload_id,
        )


@router.post(
    "/v1/segmentations/auto/liver",
    status_code=201,
    response_model=AutoLiverPublic,
    summary="Segment the liver from one click",
    responses=problems(401, 403, 404, 422),
)
def auto_liver(
    body: AutoLiverCreate,
    principal: Segmenter,
    session: SessionDep,
    blobs: BlobsDep,
    settings: SettingsDep,
) -> AutoLiverPublic:
    """Segment the liver of a stored CT series from a click inside it; store it (liver = 1).

    A seed outside the image, in air or off liver-like tissue, and an implausible volume, are 422
    problems saying so.
    """
    result = auto_segment_liver(
        session,
        blobs,
        settings.resolved_home / "tmp",
        body.series_instance_uid,
        body.seed_lps_mm,
        principal.actor,
    )
    return AutoLiverPublic.from_domain(result)


@router.post(
    "/v1/segmentations/auto/lesion",
    status_code=201,
    response_model=AutoLesionPublic,
    summary="Segment a lesion from a click or a caliper line",
    responses=problems(401, 403, 404, 422),
)
def auto_lesion(
    body: AutoLesionCreate,
    principal: Segmenter,
    session: SessionDep,
    blobs: BlobsDep,
    settings: SettingsDep,
) -> AutoLesionPublic:
    """Segment one lesion and store it as label 2: merged into a copy of
    ``base_segmentation_upload_id`` (whose liver also constrains it), or alone (then measure it
    with ``liver_label: "none"``).
    """
    result = auto_segment_lesion(
        session,
        blobs,
        settings.resolved_home / "tmp",
        body.series_instance_uid,
        principal.actor,
        seed_lps_mm=body.seed_lps_mm,
        line_lps_mm=body.line_lps_mm,
        base_segmentation_upload_id=body.base_segmentation_upload_id,
        max_diameter_mm=body.max_diameter_mm,
    )
    return AutoLesionPublic.from_domain(result)
