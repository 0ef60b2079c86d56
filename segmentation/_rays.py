"""Star-shaped region from rays cast out of a seed: directions, profiles, stops, rasterisation."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Spacing = tuple[float, float, float]


def sphere_directions(count: int) -> Floats:
    """``count`` unit vectors (z, y, x) spread evenly on the sphere (Fibonacci lattice)."""
    i = np.arange(count, dtype=np.float64) + 0.5
    polar = np.arccos(1.0 - 2.0 * i / count)
    azimuth = np.pi * (1.0 + 5.0**0.5) * i
    return np.stack(
        [np.cos(polar), np.sin(polar) * np.sin(azimuth), np.sin(polar) * np.cos(azimuth)], axis=1
    )


def sample_rays(
    volume: npt.NDArray[np.floating],
    origin_zyx: npt.NDArray[np.float64],
    directions: Floats,
    radii_mm: Floats,
    spacing_zyx_mm: Spacing,
    outside: float,
) -> Floats:
    """Trilinear samples of ``volume`` along each direction at ``radii_mm``: (rays, radii)."""
    sp = np.asarray(spacing_zyx_mm, dtype=np.float64)
    points = origin_zyx[None, None, :] + directions[:, None, :] * radii_mm[None, :, None] / sp
    flat = points.reshape(-1, 3).T
    from scipy import ndimage as ndi

    values = ndi.map_coordinates(volume, flat, order=1, mode="constant", cval=outside)
    return np.asarray(values, dtype=np.float64).reshape(len(directions), len(radii_mm))


def first_run(stop: npt.NDArray[np.bool_], run: int) -> npt.NDArray[np.int64]:
    """Index where the first run of ``run`` consecutive True starts on each row; -1 if none."""
    counts = np.cumsum(np.pad(stop.astype(np.int64), ((0, 0), (1, 0))), axis=1)
    if stop.shape[1] < run:
        return np.full(stop.shape[0], -1, dtype=np.int64)
    full = (counts[:, run:] - counts[:, :-run]) == run
    has = full.any(axis=1)
    return np.where(has, np.argmax(full, axis=1), -1).astype(np.int64)


def edge_before(
    profile: Floats,
    first: npt.NDArray[np.int64],
    radii_mm: Floats,
    level: float,
    max_walk_mm: float,
    step_mm: float,
) -> Floats:
    """Edge radius of each ray: the ``level`` crossing just before its stop, if close enough.

    A ray stopped at sample ``first`` (the start of a background run). Walking back towards
    the seed, the edge is the last crossing of ``level`` (interpolated linearly) within
    ``max_walk_mm``; without one, half a step before the stop. Rays without a stop get -1.
    """
    out = np.full(len(first), -1.0)
    walk = round(max_walk_mm / step_mm)
    for ray, f in enumerate(first):
        if f < 0:
            continue
        edge = radii_mm[f] - step_mm / 2
        values = profile[ray]
        above = values[f] >= level
        for k in range(f - 1, max(f - walk, 0) - 1, -1):
            if (values[k] >= level) != above:
                a, b = values[k], values[k + 1]
                t = 0.5 if b == a else float(np.clip((level - a) / (b - a), 0.0, 1.0))
                edge = radii_mm[k] + t * step_mm
                break
        out[ray] = edge
    return out


def regularise(radii: Floats, directions: Floats, neighbours: int) -> Floats:
    """Median of each ray's radius with its ``neighbours`` nearest directions (a smooth surface)."""
    from scipy.spatial import cKDTree

    k = min(max(int(neighbours), 1), len(directions))
    _, nearest = cKDTree(directions).query(directions, k=k)
    nearest = np.asarray(nearest).reshape(len(directions), k)
    return np.asarray(np.median(radii[nearest], axis=1), dtype=np.float64)


def rasterise(
    shape_zyx: tuple[int, ...],
    origin_zyx: npt.NDArray[np.float64],
    directions: Floats,
    radii: Floats,
    spacing_zyx_mm: Spacing,
) -> npt.NDArray[np.bool_]:
    """Voxels whose distance from the origin is within the radius of their direction.

    The radius of a voxel's direction is the mean over its three nearest ray directions.
    """
    from scipy.spatial import cKDTree

    sp = np.asarray(spacing_zyx_mm, dtype=np.float64)
    reach = float(radii.max())
    half = np.ceil(reach / sp).astype(np.int64) + 1
    lo = np.maximum(np.floor(origin_zyx).astype(np.int64) - half, 0)
    hi = np.minimum(np.floor(origin_zyx).astype(np.int64) + half + 1, shape_zyx)
    grid = np.stack(
        np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)], indexing="ij"),
        axis=-1,
    ).reshape(-1, 3)
    offsets = (grid - origin_zyx) * sp
    dist = np.sqrt((offsets**2).sum(axis=1))
    near = dist <= reach
    grid, offsets, dist = grid[near], offsets[near], dist[near]
    units = offsets / np.maximum(dist, 1e-9)[:, None]
    _, nearest = cKDTree(directions).query(units, k=3)
    limit = radii[np.asarray(nearest)].mean(axis=1)
    inside = grid[dist <= limit]
    out = np.zeros(shape_zyx, dtype=bool)
    out[tuple(inside.T)] = True
    return out
