"""Lesion tracking: how long linking a follow-up takes, and how often every link is right.

Part 1, time: a 512 x 512 x N CT phantom with 10 liver lesions at baseline, and a follow-up of the
same patient moved (shift 35 mm, rotation 7 degrees) with its lesions resized, both written as
DICOM with their label maps into ``benchmarks/_work/tracking`` (git-ignored). Timed in this
process, interleaved, medians of ``--repeat``:

  (a) the follow-up's measurement (:func:`app.measure.pipeline.measure_series`): the reference;
  (b) linking it to the baseline (:func:`app.measure.tracking.link_visits`: alignment + matching).

Goal (issue 16): b/a < 1, linking costs less than the measurement it follows.

Part 2, accuracy: ``--timelines`` random two-visit timelines on a small grid (64 x 112 x 112,
2.5 x 2 x 2 mm): 3 to 6 lesions placed at random in the liver, each resized by 0.5-1.4 at the
follow-up, one of them gone and one new lesion in one timeline out of two, the whole body moved by
a random shift (up to the sweep's limit, in any direction) and rotation (about a random axis). The
masks come straight from the generator (the pipeline is tested elsewhere; here the alignment and
the matching are what is measured); each lesion's long axis is taken as its largest diameter.
A timeline is right when every link (matched, absent, new) is the generator's. Printed per sweep
of limits: the trial's range (40 mm, 8 degrees) first, then larger moves to show where it fails.

    python benchmarks/tracking.py                  # N = 300, 5 repeats, 200 timelines
    python benchmarks/tracking.py --slices 120 --repeat 3 --timelines 40   # quick
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from app.measure.masks import MeasuredMasks  # noqa: E402
from app.measure.pipeline import MeasureRequest, measure_series  # noqa: E402
from app.measure.tracking import link_visits  # noqa: E402
from phantoms import (  # noqa: E402
    SMALL_ABDOMEN,
    BodyPose,
    LesionSpec,
    PhantomSpec,
    make_phantom,
    write_dicom_series,
    write_label_nifti,
)

WORK = REPO / "benchmarks" / "_work" / "tracking"

LESIONS_10 = tuple(
    LesionSpec((x, y, z), (r, 0.85 * r, 0.7 * r))
    for x, y, z, r in (
        (-90.0, -20.0, -40.0, 14.0),
        (-60.0, 30.0, -10.0, 11.0),
        (-30.0, -40.0, 20.0, 9.0),
        (-110.0, 20.0, 30.0, 8.0),
        (-20.0, 20.0, -45.0, 12.0),
        (10.0, -10.0, 10.0, 7.0),
        (-70.0, -50.0, 45.0, 6.0),
        (-40.0, 55.0, 40.0, 10.0),
        (-100.0, -45.0, -5.0, 5.0),
        (0.0, 40.0, -20.0, 8.0),
    )
)


def _big_spec(slices: int, **kw: Any) -> PhantomSpec:
    return PhantomSpec(
        shape_zyx=(slices, 512, 512),
        spacing_zyx_mm=(375.0 / slices, 0.78, 0.78),
        liver_center_lps_mm=(-50.0, 0.0, 0.0),
        liver_semi_axes_mm=(100.0, 80.0, 70.0),
        noise_sigma=0.0,
        **kw,
    )


def _write_visit(spec: PhantomSpec, name: str) -> tuple[Path, Path]:
    folder = WORK / f"{name}-{spec.shape_zyx[0]}"
    marker = folder / "spec.txt"
    if marker.exists() and marker.read_text() == repr(spec):
        return folder / "ct", folder / "labels.nii.gz"
    phantom = make_phantom(spec)
    folder.mkdir(parents=True, exist_ok=True)
    write_dicom_series(phantom, folder / "ct")
    write_label_nifti(phantom, folder / "labels.nii.gz")
    marker.write_text(repr(spec))
    return folder / "ct", folder / "labels.nii.gz"


def time_linking(slices: int, repeat: int) -> dict[str, Any]:
    """Part 1: medians of the follow-up's measurement and of its linking."""
    scale = (1.0, 0.6, 1.2, 0.8, 1.1, 0.7, 1.3, 0.9, 1.0, 0.5)
    follow = tuple(
        dataclasses.replace(les, semi_axes_mm=tuple(v * s for v in les.semi_axes_mm))
        for les, s in zip(LESIONS_10, scale, strict=True)
    )
    base_ct, base_labels = _write_visit(_big_spec(slices, lesions=LESIONS_10, seed=1), "base")
    fu_ct, fu_labels = _write_visit(
        _big_spec(
            slices, lesions=follow, seed=2, pose=BodyPose((3.0, -4.0, 5.0), (20.0, -15.0, 25.0))
        ),
        "fu",
    )
    base = measure_series(MeasureRequest(series=base_ct, labels=base_labels))
    measure_s, link_s = [], []
    links = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fu = measure_series(MeasureRequest(series=fu_ct, labels=fu_labels))
        measure_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        links = link_visits(
            base.masks, base.result.to_json()["lesions"], fu.masks, fu.result.to_json()["lesions"]
        )
        link_s.append(time.perf_counter() - t0)
    assert links is not None
    a, b = statistics.median(measure_s), statistics.median(link_s)
    return {
        "shape_zyx": [slices, 512, 512],
        "lesions": len(LESIONS_10),
        "measure_s": round(a, 3),
        "link_s": round(b, 3),
        "link_over_measure": round(b / a, 3),
        "matched": sum(1 for lk in links.links.links if lk.kind == "matched"),
        "absent": len(links.links.absent),
        "new": len(links.links.new),
    }


# -- part 2 ----------------------------------------------------------------------------------------

SMALL = dataclasses.replace(
    SMALL_ABDOMEN, shape_zyx=(64, 112, 112), liver_semi_axes_mm=(55.0, 45.0, 28.0)
)


def _random_lesions(rng: np.random.Generator, count: int) -> list[LesionSpec]:
    """Lesions inside the liver, at least 6 mm apart at their largest follow-up size."""
    c = np.asarray(SMALL.liver_center_lps_mm)
    axes = np.asarray(SMALL.liver_semi_axes_mm)
    while True:  # a fresh draw when the liver runs out of room
        placed: list[LesionSpec] = []
        for _attempt in range(200):
            r = float(rng.uniform(3.0, 8.0))
            p = c + rng.uniform(-0.65, 0.65, 3) * axes
            gap = [
                np.linalg.norm(p - np.asarray(o.center_lps_mm)) - 1.4 * (r + max(o.semi_axes_mm))
                for o in placed
            ]
            if all(g > 6.0 for g in gap):
                placed.append(LesionSpec(tuple(p), (r, 0.85 * r, 0.75 * r)))  # type: ignore[arg-type]
                if len(placed) == count:
                    return placed


def _random_pose(rng: np.random.Generator, shift_mm: float, rot_deg: float) -> BodyPose:
    direction = rng.normal(size=3)
    shift = direction / np.linalg.norm(direction) * rng.uniform(0.5, 1.0) * shift_mm
    angles = rng.normal(size=3)
    angles = angles / np.linalg.norm(angles) * rng.uniform(0.5, 1.0) * rot_deg
    return BodyPose(tuple(float(v) for v in angles), tuple(float(v) for v in shift))  # type: ignore[arg-type]


def _masks(phantom: Any) -> tuple[MeasuredMasks, list[dict[str, Any]]]:
    lesions = phantom.lesion_index.astype(np.int32)
    tumor = lesions > 0
    liver = phantom.labels == 1
    spec = phantom.spec
    result = [
        {"lesion_id": f"L{n}", "long_axis_mm": 2.0 * max(les.semi_axes_mm)}
        for n, les in enumerate(spec.lesions, start=1)
    ]
    masks = MeasuredMasks(spec.shape_zyx, (0, 0, 0), lesions, tumor, liver, phantom.affine)
    return masks, result


def one_timeline(rng: np.random.Generator, shift_mm: float, rot_deg: float) -> bool:
    """One random baseline/follow-up pair; whether every link is the generator's."""
    for _draw in range(100):  # a draw the generator cannot place is drawn again
        right = _draw_timeline(rng, shift_mm, rot_deg)
        if right is not None:
            return right
    raise RuntimeError("100 draws in a row could not be generated; the sweep's limits are too wide")


def _draw_timeline(rng: np.random.Generator, shift_mm: float, rot_deg: float) -> bool | None:
    """One drawn timeline: whether every link is right, ``None`` when it cannot be generated."""
    count = int(rng.integers(3, 7))
    base_lesions = _random_lesions(rng, count + 1)
    extra = base_lesions.pop()  # a place for a new lesion, apart from the others
    changes = bool(rng.integers(0, 2))
    gone = int(rng.integers(0, count)) if changes else -1
    follow = []
    expected_pairs = set()
    for n, les in enumerate(base_lesions):
        if n == gone:
            continue
        s = float(rng.uniform(0.5, 1.4))
        follow.append(dataclasses.replace(les, semi_axes_mm=tuple(v * s for v in les.semi_axes_mm)))
        expected_pairs.add((n + 1, len(follow)))
    if changes:
        follow.append(extra)
    pose = _random_pose(rng, shift_mm, rot_deg)
    try:
        base = make_phantom(dataclasses.replace(SMALL, lesions=tuple(base_lesions)))
        fu = make_phantom(dataclasses.replace(SMALL, lesions=tuple(follow), pose=pose, seed=1))
    except ValueError:  # moved out of the field of view, or lesions touching
        return None
    base_masks, base_result = _masks(base)
    fu_masks, fu_result = _masks(fu)
    tracked = link_visits(base_masks, base_result, fu_masks, fu_result).links
    pairs = {(lk.earlier[0], lk.later[0]) for lk in tracked.links if lk.kind == "matched"}
    other_kinds = [lk for lk in tracked.links if lk.kind != "matched"]
    expected_absent = (gone + 1,) if changes else ()
    expected_new = (len(follow),) if changes else ()
    return (
        pairs == expected_pairs
        and not other_kinds
        and tracked.absent == expected_absent
        and tracked.new == expected_new
    )


def accuracy(timelines: int, seed: int) -> list[dict[str, Any]]:
    """Part 2: the share of right timelines per sweep of move limits."""
    sweeps = [(40.0, 8.0, timelines)] + [
        (shift, rot, max(10, timelines // 5))
        for shift, rot in (
            (40.0, 15.0),
            (60.0, 8.0),
            (40.0, 25.0),
            (80.0, 30.0),
            (40.0, 45.0),
            (40.0, 90.0),
            (120.0, 8.0),
        )
    ]
    out = []
    for shift, rot, n in sweeps if timelines > 0 else []:
        rng = np.random.default_rng(seed)
        t0 = time.perf_counter()
        right = sum(one_timeline(rng, shift, rot) for _ in range(n))
        out.append(
            {
                "max_shift_mm": shift,
                "max_rotation_deg": rot,
                "timelines": n,
                "right": right,
                "share": round(right / n, 4),
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        print(
            f"  shift <= {shift:4.0f} mm, rotation <= {rot:4.1f} deg: {right}/{n} right "
            f"({100 * right / n:.1f} %)",
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--timelines", type=int, default=200)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args(argv)
    print(f"part 1: 512 x 512 x {args.slices}, 10 lesions, {args.repeat} runs", flush=True)
    timing = time_linking(args.slices, args.repeat)
    print(
        f"  (a) measure follow-up {timing['measure_s']:.3f} s   (b) link {timing['link_s']:.3f} s"
        f"   b/a = {timing['link_over_measure']:.3f}   (matched {timing['matched']}, absent "
        f"{timing['absent']}, new {timing['new']})",
        flush=True,
    )
    print(f"part 2: random timelines (seed {args.seed})", flush=True)
    sweeps = accuracy(args.timelines, args.seed)
    print(json.dumps({"timing": timing, "accuracy": sweeps}))
    ok = timing["link_over_measure"] < 1.0 and (not sweeps or sweeps[0]["share"] == 1.0)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
