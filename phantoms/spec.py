"""What a synthetic phantom study is made of: lesion, tissue and study specifications."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dicomio.model import Phase

__all__ = [
    "CT_TISSUE",
    "MR_TISSUE",
    "SMALL_ABDOMEN",
    "BodyPose",
    "LesionSpec",
    "PhantomSpec",
    "TissueValues",
]

Vec3 = tuple[float, float, float]

#: Orthonormality tolerance of the orientation cosines.
_COSINE_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class LesionSpec:
    """An ellipsoidal lesion, axis-aligned in patient (LPS) coordinates.

    ``hu`` overrides the phantom's lesion value for this lesion (e.g. a hyperdense lesion).
    """

    center_lps_mm: Vec3
    semi_axes_mm: Vec3
    hu: float | None = None

    def __post_init__(self) -> None:
        if len(self.center_lps_mm) != 3 or len(self.semi_axes_mm) != 3:
            raise ValueError("expected a 3-D centre and three semi-axes")
        if min(self.semi_axes_mm) <= 0:
            raise ValueError(f"expected positive semi-axes, got {self.semi_axes_mm}")


@dataclass(frozen=True, slots=True)
class BodyPose:
    """How the patient lies at this visit: the whole body rotated, then shifted, in LPS.

    The anatomy of the spec (liver, lesions, body) is given as the patient lies at a reference
    visit; with a pose it appears at ``shift + R @ p`` in this study's patient coordinates, ``R``
    rotating by ``rotation_xyz_deg`` about the x, then y, then z axis through the LPS origin. No
    scanner keeps a patient in place between visits: shifts of centimetres and rotations of a few
    degrees are usual.
    """

    rotation_xyz_deg: Vec3 = (0.0, 0.0, 0.0)
    shift_lps_mm: Vec3 = (0.0, 0.0, 0.0)

    def matrix(self) -> list[list[float]]:
        """4x4 homogeneous matrix from reference positions to this visit's positions."""
        ax, ay, az = (math.radians(v) for v in self.rotation_xyz_deg)
        cx, sx, cy, sy, cz, sz = (
            math.cos(ax),
            math.sin(ax),
            math.cos(ay),
            math.sin(ay),
            math.cos(az),
            math.sin(az),
        )
        rx = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]]
        ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]]
        rz = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]]

        def mul(a: list[list[float]], b: list[list[float]]) -> list[list[float]]:
            return [[sum(a[r][k] * b[k][c] for k in range(3)) for c in range(3)] for r in range(3)]

        rot = mul(rz, mul(ry, rx))
        return [[*rot[r], float(self.shift_lps_mm[r])] for r in range(3)] + [[0.0, 0.0, 0.0, 1.0]]


@dataclass(frozen=True, slots=True)
class TissueValues:
    """Mean voxel values: HU for CT (portal venous liver by default), signal units for MR."""

    air: float
    body: float
    liver: float
    lesion: float


#: Portal venous CT: soft tissue 40 HU, enhancing liver 100 HU, hypodense lesions 60 HU.
CT_TISSUE = TissueValues(air=-1000.0, body=40.0, liver=100.0, lesion=60.0)
#: T1-weighted-like MR signal: hypointense lesions.
MR_TISSUE = TissueValues(air=0.0, body=300.0, liver=500.0, lesion=250.0)


@dataclass(frozen=True, slots=True)
class PhantomSpec:
    """A synthetic liver study: grid, anatomy, contrast and noise.

    Parameters
    ----------
    shape_zyx, spacing_zyx_mm
        Slices, rows, columns and their spacing in mm.
    origin_lps_mm
        LPS position of the centre of voxel (0, 0, 0); ``None`` centres the grid on (0, 0, 0).
    orientation
        Row and column direction cosines (DICOM ImageOrientationPatient order: the direction of
        increasing column index, then of increasing row index). Default: axial.
    liver_center_lps_mm, liver_semi_axes_mm
        The liver ellipsoid (axis-aligned in LPS). The default is about 1.5 L, on the patient's
        right (negative x).
    lesions
        Ellipsoidal lesions; they must not overlap or touch.
    body_center_xy_mm, body_semi_axes_xy_mm
        The body: an elliptic cylinder along the patient's z axis.
    modality
        ``"CT"`` or ``"MR"``.
    tissue
        Mean values; ``None`` takes :data:`CT_TISSUE` or :data:`MR_TISSUE` by modality.
    noise_sigma
        Standard deviation of the Gaussian noise; the stream is seeded by ``seed`` and
        ``series_number``.
    seed
        Seeds the noise and the study, series and frame-of-reference UIDs. Series of one study (for
        example the phases of a multiphase study) share ``seed`` and differ in ``series_number``.
    series_description
        ``""`` makes one from the phase, e.g. ``"PHANTOM LIVER PORTAL VENOUS"``.
    phase
        Contrast phase; drives the contrast/bolus attributes and acquisition time written.
    slice_thickness_mm
        Nominal SliceThickness; ``None`` equals the slice spacing.
    uid_prefix
        Root of the generated UIDs (``"1.2.3."``); ``None`` makes ``2.25.`` UUID-derived UIDs.
    pose
        How the patient lies at this visit (:class:`BodyPose`); ``None``: as given.
    """

    shape_zyx: tuple[int, int, int] = (60, 256, 256)
    spacing_zyx_mm: Vec3 = (2.5, 1.5, 1.5)
    origin_lps_mm: Vec3 | None = None
    orientation: tuple[Vec3, Vec3] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    liver_center_lps_mm: Vec3 = (-50.0, 0.0, 0.0)
    liver_semi_axes_mm: Vec3 = (100.0, 80.0, 45.0)
    lesions: tuple[LesionSpec, ...] = ()
    body_center_xy_mm: tuple[float, float] = (0.0, 0.0)
    body_semi_axes_xy_mm: tuple[float, float] = (170.0, 130.0)
    modality: str = "CT"
    tissue: TissueValues | None = None
    noise_sigma: float = 10.0
    seed: int = 0
    series_number: int = 1
    series_description: str = ""
    phase: Phase = Phase.PORTAL_VENOUS
    slice_thickness_mm: float | None = None
    uid_prefix: str | None = None
    pose: BodyPose | None = None

    def __post_init__(self) -> None:
        if len(self.shape_zyx) != 3 or min(self.shape_zyx) < 1:
            raise ValueError(f"expected a 3-D shape with positive sizes, got {self.shape_zyx}")
        if len(self.spacing_zyx_mm) != 3 or min(self.spacing_zyx_mm) <= 0:
            raise ValueError(f"expected three positive spacings, got {self.spacing_zyx_mm}")
        if self.modality not in ("CT", "MR"):
            raise ValueError(f"expected modality 'CT' or 'MR', got {self.modality!r}")
        row, col = self.orientation
        dot = sum(r * c for r, c in zip(row, col, strict=True))
        norms = (math.hypot(*row), math.hypot(*col))
        if abs(dot) > _COSINE_TOL or any(abs(n - 1.0) > _COSINE_TOL for n in norms):
            raise ValueError("expected orthonormal row and column direction cosines")
        if self.noise_sigma < 0 or self.seed < 0 or self.series_number < 1:
            raise ValueError("expected noise_sigma >= 0, seed >= 0 and series_number >= 1")

    @property
    def slice_thickness(self) -> float:
        """Nominal slice thickness in mm."""
        if self.slice_thickness_mm is None:
            return float(self.spacing_zyx_mm[0])
        return float(self.slice_thickness_mm)

    @property
    def tissue_values(self) -> TissueValues:
        if self.tissue is not None:
            return self.tissue
        return CT_TISSUE if self.modality == "CT" else MR_TISSUE

    @property
    def noise_seed(self) -> list[int]:
        """Seed of the legacy NumPy stream of this series' noise."""
        return [self.seed, self.series_number]

    @property
    def value_range(self) -> tuple[int, int]:
        """Values are clipped to this range (12-bit CT HU; non-negative MR signal)."""
        return (-1024, 3071) if self.modality == "CT" else (0, 32767)

    @property
    def description(self) -> str:
        """SeriesDescription to write."""
        if self.series_description:
            return self.series_description
        if self.phase is Phase.UNKNOWN:
            return "PHANTOM LIVER"
        return "PHANTOM LIVER " + str(self.phase).replace("_", " ").upper()


#: A small noiseless abdomen (112 x 112 x 56 voxels of 2 x 2 x 2.5 mm, liver left of the midline)
#: with room around the liver for another organ's lesion and for a patient moved a few cm between
#: visits: the tracking tests and benchmark vary it with :func:`dataclasses.replace`.
SMALL_ABDOMEN = PhantomSpec(
    shape_zyx=(56, 112, 112),
    spacing_zyx_mm=(2.5, 2.0, 2.0),
    liver_center_lps_mm=(-10.0, 0.0, 0.0),
    liver_semi_axes_mm=(55.0, 45.0, 24.0),
    body_semi_axes_xy_mm=(105.0, 100.0),
    noise_sigma=0.0,
)
