"""The typed result of one measurement, from the pipeline to the database and the outputs.

:class:`MeasurementResult` is what :func:`app.measure.pipeline.measure_series` returns; its
:meth:`~MeasurementResult.to_json` is the measure JSON of contracts/measure.md (the required keys
and the documented extras), stored in ``measurements.result`` and printed by ``liverburden
measure --json``. :meth:`~MeasurementResult.from_json` reads a stored document back, including
those written by earlier versions, which lack some of the extras (they read as ``None``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Eligibility", "InputHashes", "LesionResult", "MeasurementResult", "SeriesSummary"]

Point = tuple[float, float]


def _points(value: Any) -> tuple[Point, ...]:
    return tuple((float(p[0]), float(p[1])) for p in value or ())


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """The measured series: identity, grid and what the reader noticed."""

    series_instance_uid: str | None
    study_instance_uid: str | None
    modality: str
    slices: int
    rows: int | None
    columns: int | None
    spacing_mm: tuple[float, float, float]  #: (z, y, x)
    slice_thickness_mm: float | None
    voxel_volume_mm3: float | None
    phase: str | None
    missing_slices: tuple[int, ...]
    source_format: str | None

    def to_json(self) -> dict[str, Any]:
        """Return the ``series`` object of the measure JSON."""
        return {
            "series_instance_uid": self.series_instance_uid,
            "study_instance_uid": self.study_instance_uid,
            "modality": self.modality,
            "slices": self.slices,
            "rows": self.rows,
            "columns": self.columns,
            "spacing_mm": list(self.spacing_mm),
            "slice_thickness_mm": self.slice_thickness_mm,
            "voxel_volume_mm3": self.voxel_volume_mm3,
            "phase": self.phase,
            "missing_slices": list(self.missing_slices),
            "source_format": self.source_format,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SeriesSummary:
        """Read the ``series`` object of a stored measure JSON."""
        z, y, x = (float(v) for v in doc["spacing_mm"])
        return cls(
            series_instance_uid=doc.get("series_instance_uid"),
            study_instance_uid=doc.get("study_instance_uid"),
            modality=str(doc.get("modality", "")),
            slices=int(doc["slices"]),
            rows=doc.get("rows"),
            columns=doc.get("columns"),
            spacing_mm=(z, y, x),
            slice_thickness_mm=_optional_float(doc.get("slice_thickness_mm")),
            voxel_volume_mm3=_optional_float(doc.get("voxel_volume_mm3")),
            phase=doc.get("phase"),
            missing_slices=tuple(int(k) for k in doc.get("missing_slices") or ()),
            source_format=doc.get("source_format"),
        )


@dataclass(frozen=True, slots=True)
class LesionResult:
    """One measured lesion (``L1``, ``L2``, ... by long axis, largest first)."""

    lesion_id: str
    volume_ml: float
    voxels: int
    long_axis_mm: float
    short_axis_mm: float
    slice_index: int
    measurable: bool
    long_axis_endpoints_rc: tuple[Point, ...]
    short_axis_endpoints_rc: tuple[Point, ...]
    organ: str | None = None  #: ``liver``, ``other`` or the organ named with its label
    hepatic: bool | None = None  #: counted in the liver tumour burden
    segment: str | None = None  #: the SEG segment or RTSTRUCT ROI it was named by

    def to_json(self) -> dict[str, Any]:
        """Return the lesion's object of the measure JSON."""
        out: dict[str, Any] = {
            "lesion_id": self.lesion_id,
            "volume_ml": self.volume_ml,
            "voxels": self.voxels,
            "long_axis_mm": self.long_axis_mm,
            "short_axis_mm": self.short_axis_mm,
            "slice_index": self.slice_index,
            "measurable": self.measurable,
            "long_axis_endpoints_rc": [list(p) for p in self.long_axis_endpoints_rc],
            "short_axis_endpoints_rc": [list(p) for p in self.short_axis_endpoints_rc],
        }
        if self.segment is not None:
            out["segment"] = self.segment
        if self.organ is not None:
            out["organ"] = self.organ
        if self.hepatic is not None:
            out["hepatic"] = self.hepatic
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> LesionResult:
        """Read one lesion of a stored measure JSON."""
        hepatic = doc.get("hepatic")
        return cls(
            lesion_id=str(doc["lesion_id"]),
            volume_ml=float(doc["volume_ml"]),
            voxels=int(doc.get("voxels", 0)),
            long_axis_mm=float(doc["long_axis_mm"]),
            short_axis_mm=float(doc["short_axis_mm"]),
            slice_index=int(doc["slice_index"]),
            measurable=bool(doc["measurable"]),
            long_axis_endpoints_rc=_points(doc.get("long_axis_endpoints_rc")),
            short_axis_endpoints_rc=_points(doc.get("short_axis_endpoints_rc")),
            organ=doc.get("organ"),
            hepatic=None if hepatic is None else bool(hepatic),
            segment=doc.get("segment"),
        )


@dataclass(frozen=True, slots=True)
class Eligibility:
    """The imaging flags of this one series (the subject's verdict is the eligibility route's).

    ``None`` where the series cannot say (no liver: no burden).
    """

    burden_le_70pct: bool | None
    burden_gt_25pct: bool | None
    measurable_liver_lesion: bool | None
    measurable_lesion: bool | None = None
    burden_dominant_in_liver: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the ``eligibility`` object of the measure JSON."""
        return {
            "burden_le_70pct": self.burden_le_70pct,
            "burden_gt_25pct": self.burden_gt_25pct,
            "measurable_liver_lesion": self.measurable_liver_lesion,
            "measurable_lesion": self.measurable_lesion,
            "burden_dominant_in_liver": self.burden_dominant_in_liver,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Eligibility:
        """Read the ``eligibility`` object of a stored measure JSON."""
        return cls(
            burden_le_70pct=doc.get("burden_le_70pct"),
            burden_gt_25pct=doc.get("burden_gt_25pct"),
            measurable_liver_lesion=doc.get("measurable_liver_lesion"),
            measurable_lesion=doc.get("measurable_lesion"),
            burden_dominant_in_liver=doc.get("burden_dominant_in_liver"),
        )


@dataclass(frozen=True, slots=True)
class InputHashes:
    """What was measured, by content: the series' files and the segmentation's."""

    series_sha256: str
    series_files: int
    labels_sha256: tuple[str, ...]
    input_sha256: str  #: series, segmentation and label choices together

    def to_json(self) -> dict[str, Any]:
        """Return the ``inputs`` object of the measure JSON."""
        return {
            "series_sha256": self.series_sha256,
            "series_files": self.series_files,
            "labels_sha256": list(self.labels_sha256),
            "input_sha256": self.input_sha256,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> InputHashes:
        """Read the ``inputs`` object of a stored measure JSON."""
        return cls(
            series_sha256=str(doc.get("series_sha256", "")),
            series_files=int(doc.get("series_files", 0)),
            labels_sha256=tuple(str(h) for h in doc.get("labels_sha256") or ()),
            input_sha256=str(doc["input_sha256"]),
        )


@dataclass(frozen=True, slots=True)
class MeasurementResult:
    """One measurement of a series: volumes, burden, lesions and what they rest on."""

    series: SeriesSummary
    liver_volume_ml: float | None  #: ``None``: measured without a liver
    tumor_volume_ml: float  #: hepatic tumours only
    burden_fraction: float | None
    eligibility: Eligibility
    lesions: tuple[LesionResult, ...]
    liver_voxels: int | None
    tumor_voxels: int
    inputs: InputHashes
    algorithm_version: str
    label_choices: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    extrahepatic_tumor_volume_ml: float | None = None
    extrahepatic_tumor_voxels: int | None = None
    hepatic_share: float | None = None  #: hepatic share of all tumour voxels

    @property
    def has_liver(self) -> bool:
        """Whether a liver was measured (a measurement without adds lesions, never a burden)."""
        return self.liver_volume_ml is not None

    def to_json(self) -> dict[str, Any]:
        """Return the measure JSON (contracts/measure.md), ready for ``json.dumps``."""
        return {
            "series": self.series.to_json(),
            "liver_volume_ml": self.liver_volume_ml,
            "tumor_volume_ml": self.tumor_volume_ml,
            "burden_fraction": self.burden_fraction,
            "extrahepatic_tumor_volume_ml": self.extrahepatic_tumor_volume_ml,
            "hepatic_share": self.hepatic_share,
            "eligibility": self.eligibility.to_json(),
            "lesions": [les.to_json() for les in self.lesions],
            "lesion_count": len(self.lesions),
            "liver_voxels": self.liver_voxels,
            "tumor_voxels": self.tumor_voxels,
            "extrahepatic_tumor_voxels": self.extrahepatic_tumor_voxels,
            "label_choices": dict(self.label_choices),
            "inputs": self.inputs.to_json(),
            "warnings": list(self.warnings),
            "algorithm_version": self.algorithm_version,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> MeasurementResult:
        """Read a stored measure JSON (any version of this service)."""
        return cls(
            series=SeriesSummary.from_json(doc["series"]),
            liver_volume_ml=_optional_float(doc.get("liver_volume_ml")),
            tumor_volume_ml=float(doc["tumor_volume_ml"]),
            burden_fraction=_optional_float(doc.get("burden_fraction")),
            eligibility=Eligibility.from_json(doc.get("eligibility") or {}),
            lesions=tuple(LesionResult.from_json(les) for les in doc.get("lesions") or ()),
            liver_voxels=doc.get("liver_voxels"),
            tumor_voxels=int(doc.get("tumor_voxels", 0)),
            inputs=InputHashes.from_json(doc["inputs"]),
            algorithm_version=str(doc["algorithm_version"]),
            label_choices=dict(doc.get("label_choices") or {}),
            warnings=tuple(str(w) for w in doc.get("warnings") or ()),
            extrahepatic_tumor_volume_ml=_optional_float(doc.get("extrahepatic_tumor_volume_ml")),
            extrahepatic_tumor_voxels=doc.get("extrahepatic_tumor_voxels"),
            hepatic_share=_optional_float(doc.get("hepatic_share")),
        )
