"""Semi-automatic segmentation through HTTP (``POST /v1/segmentations/auto/...``): the sample
study's liver from one click and its largest lesion from a click, stored as segmentations that
``POST /v1/measurements`` takes directly; bad seeds and unknown ids are problem documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

import dicomio
import segmentation.errors
from app.autoseg.files import write_labels_nrrd
from app.errors import PROBLEMS
from app.settings import Settings
from tests.app._http_steps import measure, new_subject_with_baseline
from tests.app.conftest import (
    SeriesFiles,
    Service,
    dicom_parts,
    running_service,
)
from tests.conftest import SAMPLE_DICOM

TRUTH: dict[str, Any] = json.loads((SAMPLE_DICOM / "truth.json").read_text(encoding="utf-8"))
L1 = TRUTH["lesions"][0]  # the largest lesion (truth.json lists them largest first)
#: Liver volume agreement with the sample's truth (segment_liver measured +3.0 % here).
LIVER_REL_TOL = 0.05
#: Lesion volume agreement with L1's truth (segment_lesion measured -2.8 % here).
LESION_REL_TOL = 0.10


@dataclass(frozen=True)
class Sample:
    """The sample study stored in a running service, with a deep liver seed in LPS mm."""

    svc: Service
    series_uid: str
    study_uid: str
    liver_seed_lps_mm: list[float]
    volume: dicomio.ImageVolume
    truth_labels: np.ndarray


def _deepest_liver_point(volume: dicomio.ImageVolume, labels: np.ndarray) -> list[float]:
    """The liver voxel farthest from the liver's surface (in mm), as an LPS point."""
    liver = labels > 0  # liver (1) with its tumours (2)
    depth = ndimage.distance_transform_edt(liver, sampling=volume.spacing_zyx_mm)
    index = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return [float(v) for v in volume.geometry.index_to_lps(np.asarray(index, dtype=float))]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sample]:
    """One service for the module, with the sample CT series uploaded."""
    volume = dicomio.read_series(SAMPLE_DICOM / "ct")
    labels = np.asarray(dicomio.read_labels(SAMPLE_DICOM / "labels.nii.gz", volume).labels)
    settings = Settings(home=tmp_path_factory.mktemp("autoseg") / "home", workers=1)
    with running_service(settings) as svc:
        files = sorted((SAMPLE_DICOM / "ct").glob("*.dcm"))
        r = svc.client().post("/v1/uploads", files=dicom_parts(files))
        assert r.status_code == 201, r.text
        study = r.json()["studies"][0]
        yield Sample(
            svc,
            study["series"][0]["series_instance_uid"],
            study["study_instance_uid"],
            _deepest_liver_point(volume, labels),
            volume,
            labels,
        )


@pytest.fixture(scope="module")
def liver(sample: Sample) -> dict[str, Any]:
    """The sample liver segmented from its deepest point (once per module)."""
    r = sample.svc.client().post(
        "/v1/segmentations/auto/liver",
        json={"series_instance_uid": sample.series_uid, "seed_lps_mm": sample.liver_seed_lps_mm},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def _stored_labels(sample: Sample, body: dict[str, Any]) -> np.ndarray:
    """The stored label map of a segmentation response, read back onto the series grid."""
    blob = sample.svc.settings.blob_dir / body["sha256"][:2] / body["sha256"][2:]
    path = blob.parent / f"copy{body['file_suffix']}"
    path.write_bytes(blob.read_bytes())
    try:
        return np.asarray(dicomio.read_labels(path, sample.volume).labels)
    finally:
        path.unlink()


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def _l1_truth(sample: Sample) -> np.ndarray:
    components, _ = ndimage.label(sample.truth_labels == 2)
    k, j, i = np.floor(sample.volume.geometry.lps_to_index(L1["center_lps_mm"]) + 0.5).astype(int)
    return np.asarray(components == components[k, j, i])


def test_liver_from_one_click(sample: Sample, liver: dict[str, Any]) -> None:
    """A click deep in the liver stores a label-1 map within a few % of the true liver volume."""
    assert liver["series_instance_uid"] == sample.series_uid
    assert liver["labels"] == {"liver": 1, "tumor": None}
    truth_ml = TRUTH["liver_volume_ml"]
    assert abs(liver["liver_volume_ml"] - truth_ml) <= LIVER_REL_TOL * truth_ml
    stored = _stored_labels(sample, liver)
    assert set(np.unique(stored)) == {0, 1}
    assert _dice(stored == 1, sample.truth_labels > 0) >= 0.95
    ml = np.count_nonzero(stored) * sample.volume.geometry.voxel_volume_mm3 / 1000
    assert ml == pytest.approx(liver["liver_volume_ml"], rel=1e-9)


def test_lesion_added_to_the_liver_then_measured(sample: Sample, liver: dict[str, Any]) -> None:
    """A click at L1's centre adds it as label 2 to a NEW copy of the liver map; that
    segmentation id measures directly: the liver volume and L1 match the truth."""
    c = sample.svc.client()
    r = c.post(
        "/v1/segmentations/auto/lesion",
        json={
            "series_instance_uid": sample.series_uid,
            "seed_lps_mm": L1["center_lps_mm"],
            "base_segmentation_upload_id": liver["segmentation_upload_id"],
        },
    )
    assert r.status_code == 201, r.text
    lesion = r.json()
    assert lesion["segmentation_upload_id"] != liver["segmentation_upload_id"]
    assert lesion["base_segmentation_upload_id"] == liver["segmentation_upload_id"]
    assert lesion["labels"] == {"liver": 1, "tumor": 2}
    assert lesion["contrast"] == "hypodense"
    assert abs(lesion["lesion_volume_ml"] - L1["volume_ml"]) <= LESION_REL_TOL * L1["volume_ml"]
    assert lesion["long_axis_mm"] == pytest.approx(L1["long_axis_mm"], rel=0.1)

    merged = _stored_labels(sample, lesion)
    assert set(np.unique(merged)) == {0, 1, 2}
    assert _dice(merged == 2, _l1_truth(sample)) >= 0.90
    base = _stored_labels(sample, liver)  # the base segmentation is left as it was
    assert set(np.unique(base)) == {0, 1}
    assert np.array_equal(merged > 0, base > 0)

    tp = new_subject_with_baseline(c, "S-AUTO", sample.study_uid, "2020-01-01")
    status = measure(c, tp, sample.series_uid, lesion["segmentation_upload_id"])
    m = c.get(status["result_url"]).json()
    truth_ml = TRUTH["liver_volume_ml"]
    assert abs(m["liver_volume_ml"] - truth_ml) <= LIVER_REL_TOL * truth_ml
    assert m["liver_volume_ml"] == pytest.approx(liver["liver_volume_ml"], rel=1e-9)
    assert m["lesion_count"] == 1
    found = m["lesions"][0]
    assert found["volume_ml"] == pytest.approx(lesion["lesion_volume_ml"], rel=1e-9)
    assert found["long_axis_mm"] == pytest.approx(lesion["long_axis_mm"], rel=1e-9)
    assert found["measurable"] is True
    assert m["eligibility"]["burden_le_70pct"] is TRUTH["eligibility"]["burden_le_70pct"]
    assert m["eligibility"]["burden_gt_25pct"] is TRUTH["eligibility"]["burden_gt_25pct"]
    assert m["eligibility"]["measurable_liver_lesion"] is True


def test_lesion_from_caliper_line_alone(sample: Sample) -> None:
    """L1's long-axis caliper without a base stores L1 alone as label 2 (no liver label)."""
    k = L1["slice_index"]
    sy, sx = sample.volume.spacing_zyx_mm[1:]
    ends = [
        [float(v) for v in sample.volume.geometry.index_to_lps([k, r / sy, c / sx])]
        for r, c in L1["long_axis_endpoints_rc_mm"]
    ]
    r = sample.svc.client().post(
        "/v1/segmentations/auto/lesion",
        json={"series_instance_uid": sample.series_uid, "line_lps_mm": ends},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["labels"] == {"liver": None, "tumor": 2}
    assert body["base_segmentation_upload_id"] is None
    stored = _stored_labels(sample, body)
    assert set(np.unique(stored)) == {0, 2}
    assert _dice(stored == 2, _l1_truth(sample)) >= 0.90


def test_creation_is_audited(sample: Sample, liver: dict[str, Any]) -> None:
    """Each stored auto-segmentation has a ``segmentation.auto_created`` event with its hash."""
    events = (
        sample.svc.client("admin")
        .get("/v1/audit/events", params={"action": "segmentation.auto_created", "limit": 1000})
        .json()
    )
    mine = [e for e in events if e["entity_id"] == liver["segmentation_upload_id"]]
    assert len(mine) == 1
    details = mine[0]["details"]
    assert details["sha256"] == liver["sha256"]
    assert details["method"] == "liver_from_seed"
    assert details["seed_lps_mm"] == pytest.approx(sample.liver_seed_lps_mm)
    assert details["series_instance_uid"] == sample.series_uid
    assert mine[0]["actor"].startswith("radiologist:")


#: Bad requests: (route, body with {series} and {liver} placeholders, status, type slug, needle).
BAD = [
    ("liver", {"seed_lps_mm": [-500, 0, 0]}, 422, "segmentation-seed", "outside the image"),
    ("liver", {"seed_lps_mm": [-185, -185, 0]}, 422, "segmentation-seed", "outside the body"),
    ("liver", {"seed_lps_mm": [1, 2]}, 422, "invalid-request", "seed_lps_mm"),
    ("liver", {"seed_lps_mm": ["a", 0, 0]}, 422, "invalid-request", "seed_lps_mm"),
    (
        "liver",
        {"series_instance_uid": "1.2.3.4", "seed_lps_mm": [0, 0, 0]},
        404,
        "not-found",
        "no stored series",
    ),
    ("lesion", {}, 422, "invalid-request", "exactly one of"),
    (
        "lesion",
        {"seed_lps_mm": [0, 0, 0], "line_lps_mm": [[0, 0, 0], [1, 1, 1]]},
        422,
        "invalid-request",
        "exactly one of",
    ),
    ("lesion", {"line_lps_mm": [[0, 0, 0]]}, 422, "invalid-request", "line_lps_mm"),
    ("lesion", {"line_lps_mm": [[0, 0, 0], [0, 0, 0]]}, 422, "invalid-request", "coincide"),
    (
        "lesion",
        {"line_lps_mm": [[0, 0, 0], [900, 0, 0]]},
        422,
        "segmentation-seed",
        "outside the image",
    ),
    (
        "lesion",
        {"seed_lps_mm": [0, 0, 0], "base_segmentation_upload_id": "nope"},
        404,
        "not-found",
        "no segmentation upload",
    ),
    (
        "lesion",
        {"seed_lps_mm": "{seed}", "base_segmentation_upload_id": "{liver}"},
        422,
        "segmentation-seed",
        "hypodense or hyperdense lesion",
    ),
]
BAD_IDS = [
    "liver-seed-outside-image",
    "liver-seed-in-air",
    "liver-seed-two-numbers",
    "liver-seed-not-numbers",
    "liver-unknown-series",
    "lesion-no-seed-no-line",
    "lesion-seed-and-line",
    "lesion-line-one-point",
    "lesion-line-zero-length",
    "lesion-line-off-image",
    "lesion-unknown-base",
    "lesion-click-on-plain-liver",
]


@pytest.mark.parametrize(("route", "body", "status", "slug", "needle"), BAD, ids=BAD_IDS)
def test_bad_requests_are_problems(
    sample: Sample,
    liver: dict[str, Any],
    route: str,
    body: dict[str, Any],
    status: int,
    slug: str,
    needle: str,
) -> None:
    """Bad seeds, lines and ids answer a 4xx problem+json naming the problem; nothing is stored."""
    values = {"{seed}": sample.liver_seed_lps_mm, "{liver}": liver["segmentation_upload_id"]}
    payload = {"series_instance_uid": sample.series_uid}
    payload.update({k: values.get(v, v) if isinstance(v, str) else v for k, v in body.items()})
    c = sample.svc.client()
    before = _auto_events(sample)
    r = c.post(f"/v1/segmentations/auto/{route}", json=payload)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"] == f"urn:liverburden:problem:{slug}"
    assert needle.lower() in problem["detail"].lower(), problem["detail"]
    assert problem["status"] == status
    assert _auto_events(sample) == before


def test_base_of_another_series_is_refused(sample: Sample, ct_series: SeriesFiles) -> None:
    """A base segmentation stored for another series is a 422 problem naming both series."""
    c = sample.svc.client()
    up = c.post("/v1/uploads", files=dicom_parts(ct_series.files))
    assert up.status_code == 201, up.text
    other_uid = up.json()["studies"][0]["series"][0]["series_instance_uid"]
    seg = c.post(
        "/v1/segmentations",
        data={"series_instance_uid": other_uid},
        files={"file": ("labels.nii.gz", ct_series.labels.read_bytes())},
    )
    assert seg.status_code == 201, seg.text
    r = c.post(
        "/v1/segmentations/auto/lesion",
        json={
            "series_instance_uid": sample.series_uid,
            "seed_lps_mm": L1["center_lps_mm"],
            "base_segmentation_upload_id": seg.json()["segmentation_upload_id"],
        },
    )
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith(":invalid-request")
    assert other_uid in r.json()["detail"] and sample.series_uid in r.json()["detail"]


def _auto_events(sample: Sample) -> int:
    events = (
        sample.svc.client("admin")
        .get("/v1/audit/events", params={"action": "segmentation.auto_created", "limit": 1000})
        .json()
    )
    return len(events)


def _segmentation_errors() -> list[type[BaseException]]:
    found: set[type[BaseException]] = set()
    todo: list[type[BaseException]] = [segmentation.errors.SegmentationError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _segmentation_errors(), ids=lambda c: c.__name__)
def test_segmentation_errors_have_their_own_row(cls: type[BaseException]) -> None:
    """Each segmentation error class has its own 422 row in the one error table."""
    assert cls in PROBLEMS
    assert PROBLEMS[cls].status == 422


def test_nrrd_label_map_round_trips_on_an_oblique_grid(tmp_path: Path) -> None:
    """The merged-map NRRD writer keeps every label value (uint16 too) and the exact grid,
    on a rotated, y-flipped, anisotropic grid."""
    angle = np.deg2rad(20.0)
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0], [0, 0, 1]]
    )
    columns = rot @ np.diag([1.0, -1.0, 1.0])  # (x, y, z) unit axes, y flipped
    affine = np.eye(4)
    affine[:3, 0] = columns[:, 2] * 3.0  # slice step along z
    affine[:3, 1] = columns[:, 1] * 0.8  # row step
    affine[:3, 2] = columns[:, 0] * 0.7  # column step
    affine[:3, 3] = (-12.5, 40.0, 300.0)
    geometry = dicomio.Geometry((5, 7, 9), affine)
    labels = np.random.default_rng(3).choice([0, 1, 2, 300], size=geometry.shape_zyx)
    path = tmp_path / "labels.nrrd"
    write_labels_nrrd(labels, geometry, path)
    target = dicomio.ImageVolume(geometry, dicomio.SeriesInfo(None, "CT"))
    back = dicomio.read_labels(path, target)
    assert not back.warnings  # same grid: no resampling
    assert np.array_equal(np.asarray(back.labels), labels)
    write_labels_nrrd(labels, geometry, tmp_path / "again.nrrd")
    assert (tmp_path / "again.nrrd").read_bytes() == path.read_bytes()  # deterministic bytes
