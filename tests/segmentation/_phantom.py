"""A synthetic abdomen with analytic truth: air, a body at 40 HU, a liver ellipsoid at 100 HU and
a spherical lesion inside it. A voxel belongs to a shape when its centre lies inside."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SPACING = (2.5, 1.5, 1.5)
SHAPE = (60, 160, 160)
AIR_HU, BODY_HU, LIVER_HU = -1000.0, 40.0, 100.0


@dataclass(frozen=True, eq=False)
class Phantom:
    image: npt.NDArray[np.int16]
    spacing: tuple[float, float, float]
    liver: npt.NDArray[np.bool_]  # includes the lesion
    lesion: npt.NDArray[np.bool_]
    liver_centre: tuple[int, int, int]
    lesion_centre: tuple[int, int, int]
    body_point: tuple[int, int, int]
    air_point: tuple[int, int, int]
    lesion_radius_mm: float


def make_phantom(
    *,
    lesion_hu: float = 60.0,
    lesion_radius_mm: float = 15.0,
    liver_semi_axes_mm: tuple[float, float, float] = (55.0, 60.0, 80.0),
    noise_hu: float = 10.0,
    seed: int = 0,
) -> Phantom:
    """Build the phantom; the noise is Gaussian from a seeded generator (deterministic)."""
    sz, sy, sx = SPACING
    nz, ny, nx = SHAPE
    z = (np.arange(nz) - (nz - 1) / 2) * sz
    y = (np.arange(ny) - (ny - 1) / 2) * sy
    x = (np.arange(nx) - (nx - 1) / 2) * sx
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    body = (yy / 100.0) ** 2 + (xx / 115.0) ** 2 <= 1.0
    az, ay, ax = liver_semi_axes_mm
    liver_c = (0.0, 0.0, -20.0)
    liver = ((zz - liver_c[0]) / az) ** 2 + ((yy - liver_c[1]) / ay) ** 2 + (
        (xx - liver_c[2]) / ax
    ) ** 2 <= 1.0
    lesion_c = (5.0, 10.0, -45.0)
    lesion = (zz - lesion_c[0]) ** 2 + (yy - lesion_c[1]) ** 2 + (
        xx - lesion_c[2]
    ) ** 2 <= lesion_radius_mm**2
    image = np.full(SHAPE, AIR_HU)
    image[body] = BODY_HU
    image[liver] = LIVER_HU
    image[lesion] = lesion_hu
    rng = np.random.default_rng(seed)
    image = image + rng.normal(0.0, noise_hu, SHAPE)

    def index(point_mm: tuple[float, float, float]) -> tuple[int, int, int]:
        k, j, i = (
            round(p / s + (n - 1) / 2) for p, s, n in zip(point_mm, SPACING, SHAPE, strict=True)
        )
        return (k, j, i)

    return Phantom(
        image=np.round(image).astype(np.int16),
        spacing=SPACING,
        liver=liver,
        lesion=lesion,
        liver_centre=index((0.0, -25.0, 0.0)),
        lesion_centre=index(lesion_c),
        body_point=index((0.0, 0.0, 90.0)),
        air_point=index((0.0, 115.0, 0.0)),
        lesion_radius_mm=lesion_radius_mm,
    )


def dice(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    """Dice coefficient of two boolean masks."""
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())
