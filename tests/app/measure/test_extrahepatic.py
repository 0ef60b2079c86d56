"""Tumours outside the liver: measured as lesions of their organ, never counted as hepatic.

Phantom CT with a liver lesion and an adrenal-like mass well away from the liver, the mass given
by its own label (``--other-tumor-label 3=adrenal``) or mislabelled as liver tumour (label 2).
Truth is counted on the label array written (contracts/trial-record.md, Lesions outside the
liver): burden from hepatic tumour only, the mass in ``extrahepatic_tumor_volume_ml``,
``hepatic_share`` and ``burden_dominant_in_liver`` exact on voxel counts, measurability of liver
lesions only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.measure.pipeline import MeasureRequest, run_measurement
from dicomio.errors import LabelError
from phantoms import LesionSpec, PhantomSpec, make_phantom, write_dicom_series, write_label_nifti
from tests.app.conftest import Service

SPACING = (2.5, 2.0, 2.0)
VOXEL_ML = SPACING[0] * SPACING[1] * SPACING[2] / 1000.0


def _spec(lesion_semi_mm: tuple[float, float, float]) -> PhantomSpec:
    return PhantomSpec(
        shape_zyx=(30, 96, 96),
        spacing_zyx_mm=SPACING,
        liver_center_lps_mm=(-40.0, 0.0, 0.0),
        liver_semi_axes_mm=(45.0, 40.0, 25.0),
        body_semi_axes_xy_mm=(95.0, 95.0),
        lesions=(LesionSpec((-40.0, 0.0, 0.0), lesion_semi_mm),),
        noise_sigma=0.0,
    )


def _case(
    tmp: Path,
    mass_semi_mm: tuple[float, float, float],
    mass_label: int,
    lesion_semi=(8.0, 8.0, 6.0),
) -> tuple[Path, Path, np.ndarray, Any]:
    """Series and label map: liver 1, liver tumour 2, the mass ``mass_label`` at x = +50 mm."""
    phantom = make_phantom(_spec(lesion_semi))
    write_dicom_series(phantom, tmp / "ct")
    labels = np.array(phantom.labels)
    k, j, i = np.indices(labels.shape).astype(np.float64)
    a = phantom.affine
    x = a[0, 3] + k * a[0, 0] + j * a[0, 1] + i * a[0, 2]
    y = a[1, 3] + k * a[1, 0] + j * a[1, 1] + i * a[1, 2]
    z = a[2, 3] + k * a[2, 0] + j * a[2, 1] + i * a[2, 2]
    sx, sy, sz = mass_semi_mm
    mass = ((x - 50.0) / sx) ** 2 + ((y - 20.0) / sy) ** 2 + (z / sz) ** 2 <= 1.0
    assert not (mass & (labels > 0)).any()
    labels[mass] = mass_label
    path = write_label_nifti(phantom, tmp / "labels.nii.gz", array=labels)
    return tmp / "ct", path, labels, mass


def _truth(labels: np.ndarray, mass: np.ndarray) -> dict[str, float]:
    hepatic = int(np.count_nonzero((labels == 2) & ~mass))
    extra = int(np.count_nonzero(mass))
    liver = int(np.count_nonzero(((labels == 1) | (labels == 2)) & ~mass))
    return {
        "tumor_ml": hepatic * VOXEL_ML,
        "extra_ml": extra * VOXEL_ML,
        "liver_ml": liver * VOXEL_ML,
        "share": hepatic / (hepatic + extra),
        "dominant": 2 * hepatic > hepatic + extra,
    }


def _check(out: dict[str, Any], truth: dict[str, float]) -> None:
    assert out["tumor_volume_ml"] == pytest.approx(truth["tumor_ml"], rel=1e-12)
    assert out["extrahepatic_tumor_volume_ml"] == pytest.approx(truth["extra_ml"], rel=1e-12)
    assert out["liver_volume_ml"] == pytest.approx(truth["liver_ml"], rel=1e-12)
    assert out["burden_fraction"] == pytest.approx(truth["tumor_ml"] / truth["liver_ml"])
    assert out["hepatic_share"] == pytest.approx(truth["share"], rel=1e-12)
    assert out["eligibility"]["burden_dominant_in_liver"] is truth["dominant"]


def test_mass_by_its_own_label_is_a_lesion_of_its_organ(tmp_path: Path) -> None:
    series, labels_path, labels, mass = _case(tmp_path, (15.0, 12.0, 10.0), 3)
    out = run_measurement(
        MeasureRequest(series=series, labels=labels_path, other_tumor_labels=(("3", "adrenal"),))
    )
    _check(out, _truth(labels, mass))
    organs = sorted((les["organ"], les["hepatic"]) for les in out["lesions"])
    assert organs == [("adrenal", False), ("liver", True)]
    assert out["eligibility"]["burden_dominant_in_liver"] is False  # the mass is bigger
    assert out["label_choices"]["other_tumor_labels"] == [["3", "adrenal"]]


def test_mass_mislabelled_as_liver_tumour_is_not_counted_as_hepatic(tmp_path: Path) -> None:
    """The same mass as label 2: not hepatic, out of the burden, named in the warnings."""
    series, labels_path, labels, mass = _case(tmp_path, (15.0, 12.0, 10.0), 2)
    out = run_measurement(MeasureRequest(series=series, labels=labels_path))
    _check(out, _truth(labels, mass))
    extra = [les for les in out["lesions"] if not les["hepatic"]]
    assert len(extra) == 1 and extra[0]["organ"] == "other"
    assert any("next to the liver" in w for w in out["warnings"])
    # the same numbers as with the mass under its own label
    own = tmp_path / "own"
    own.mkdir()
    series2, labels2, _, _ = _case(own, (15.0, 12.0, 10.0), 3)
    out2 = run_measurement(
        MeasureRequest(series=series2, labels=labels2, other_tumor_labels=(("3", None),))
    )
    assert out2["tumor_volume_ml"] == out["tumor_volume_ml"]
    assert out2["burden_fraction"] == out["burden_fraction"]


@pytest.mark.parametrize(
    ("mass_semi", "dominant"),
    [((5.0, 5.0, 4.0), True), ((15.0, 12.0, 10.0), False)],
    ids=["small-mass-liver-dominant", "large-mass-not-dominant"],
)
def test_liver_dominance_on_both_sides_of_one_half(
    tmp_path: Path, mass_semi: tuple[float, float, float], dominant: bool
) -> None:
    series, labels_path, labels, mass = _case(tmp_path, mass_semi, 3)
    out = run_measurement(
        MeasureRequest(series=series, labels=labels_path, other_tumor_labels=(("3", "adrenal"),))
    )
    truth = _truth(labels, mass)
    assert truth["dominant"] is dominant
    _check(out, truth)


def test_only_liver_lesions_make_a_measurable_liver_lesion(tmp_path: Path) -> None:
    """A 6.6 mm liver lesion and a measurable mass: measurable, but not in the liver."""
    series, labels_path, _, _ = _case(tmp_path, (15.0, 12.0, 10.0), 3, lesion_semi=(3.3, 3.3, 3.0))
    out = run_measurement(
        MeasureRequest(series=series, labels=labels_path, other_tumor_labels=(("3", "adrenal"),))
    )
    liver_lesion = next(les for les in out["lesions"] if les["hepatic"])
    assert liver_lesion["long_axis_mm"] < 10.0
    assert out["eligibility"]["measurable_lesion"] is True
    assert out["eligibility"]["measurable_liver_lesion"] is False


def test_an_other_label_already_chosen_is_refused(tmp_path: Path) -> None:
    series, labels_path, _, _ = _case(tmp_path, (5.0, 5.0, 4.0), 3)
    with pytest.raises(LabelError, match="already chosen"):
        run_measurement(
            MeasureRequest(series=series, labels=labels_path, other_tumor_labels=(("2", "lung"),))
        )


def test_without_other_labels_the_input_digest_is_unchanged(tmp_path: Path) -> None:
    """Requests that name no other label keep the label choices (and input hash) they had."""
    series, labels_path, _, _ = _case(tmp_path, (5.0, 5.0, 4.0), 3)
    out = run_measurement(MeasureRequest(series=series, labels=labels_path))
    assert set(out["label_choices"]) == {
        "liver_label",
        "liver_segments",
        "tumor_labels",
        "tumor_segments",
    }
    assert out["extrahepatic_tumor_volume_ml"] == 0.0  # label 3 was not asked for
    assert out["hepatic_share"] == 1.0


def test_command_line_takes_other_tumour_labels(tmp_path: Path) -> None:
    """``--other-tumor-label 3=adrenal`` on the command line: the same numbers as the pipeline;
    ``L=`` without an organ is refused with exit 2."""
    from tests.app._cli import liverburden

    series, labels_path, labels, mass = _case(tmp_path, (15.0, 12.0, 10.0), 3)

    def measure(other: str, *extra: str) -> Any:
        return liverburden(
            tmp_path / "home",
            *("measure", "--series", str(series), "--labels", str(labels_path)),
            *("--other-tumor-label", other, *extra),
        )

    proc = measure("3=adrenal", "--json")
    assert proc.returncode == 0, proc.stderr
    _check(json.loads(proc.stdout), _truth(labels, mass))
    text = measure("3=adrenal")
    assert "outside the liver" in text.stdout and "adrenal (not hepatic)" in text.stdout
    bad = measure("3=")
    assert bad.returncode == 2 and "LABEL=ORGAN" in bad.stderr


def test_service_measures_other_tumour_labels_and_tracks_their_organ(
    service: Service, tmp_path: Path
) -> None:
    """Through HTTP: ``other_tumor_labels`` in the request, the same numbers, and the record
    proposed from it names the mass's organ (the adrenal mass is not a liver target)."""
    from tests.app.conftest import dicom_parts, wait_for_job

    series, labels_path, labels, mass = _case(tmp_path, (15.0, 12.0, 10.0), 3)
    c = service.client()
    up = c.post("/v1/uploads", files=dicom_parts(sorted(series.iterdir())))
    assert up.status_code == 201, up.text
    study = up.json()["studies"][0]
    series_uid = study["series"][0]["series_instance_uid"]
    assert c.post("/v1/subjects", json={"subject_id": "EXTRA-1"}).status_code == 201
    tp = c.post(
        "/v1/subjects/EXTRA-1/timepoints",
        json={
            "label": "baseline",
            "study_instance_uid": study["study_instance_uid"],
            "baseline": True,
        },
    )
    assert tp.status_code == 201, tp.text
    seg = c.post(
        "/v1/segmentations",
        data={"series_instance_uid": series_uid},
        files={"file": ("labels.nii.gz", labels_path.read_bytes())},
    )
    assert seg.status_code == 201, seg.text
    body = {
        "timepoint_id": tp.json()["timepoint_id"],
        "series_instance_uid": series_uid,
        "segmentation_upload_id": seg.json()["segmentation_upload_id"],
        "other_tumor_labels": [{"label": "3", "organ": "adrenal"}],
    }
    job = c.post("/v1/measurements", json=body)
    assert job.status_code == 202, job.text
    done = wait_for_job(c, job.headers["Location"])
    assert done["status"] == "succeeded", done
    _check(c.get(done["result_url"]).json(), _truth(labels, mass))
    lesions = c.get("/v1/subjects/EXTRA-1/lesions").json()["lesions"]
    assert sorted(les["organ"] for les in lesions) == ["adrenal", "liver"]
    # the same request without the other label is another request (not deduplicated)
    plain = c.post(
        "/v1/measurements", json={k: v for k, v in body.items() if k != "other_tumor_labels"}
    )
    assert plain.status_code == 202 and plain.json()["job_id"] != job.json()["job_id"]


def test_other_tumour_by_segment_name_in_a_seg_and_by_value_in_nrrd(tmp_path: Path) -> None:
    """The entry points of contracts/trial-record.md besides NIfTI: a DICOM SEG whose segments
    are named (``--other-tumor-label "Tumor 2=adrenal"`` picks the mass by name, the liver lesion
    stays ``Tumor 1``) and an NRRD label map (by value): the same lesions, organs and volumes as
    the NIfTI of the same voxels."""
    import dataclasses

    from phantoms import write_seg

    liver_lesion = LesionSpec((-40.0, 0.0, 0.0), (12.0, 10.0, 8.0))  # 24 mm: "Tumor 1"
    mass = LesionSpec((40.0, 20.0, 0.0), (8.0, 7.0, 6.0))  # 16 mm, outside the liver: "Tumor 2"
    spec = dataclasses.replace(_spec((8.0, 8.0, 6.0)), lesions=(liver_lesion, mass))
    phantom = make_phantom(spec)
    files = write_dicom_series(phantom, tmp_path / "ct")
    labels = np.array(phantom.labels)
    far = np.zeros(labels.shape, dtype=bool)
    far[..., labels.shape[2] // 2 :] = True  # the mass lies in the other half of the grid
    labels[(labels == 2) & far] = 3
    assert (labels == 3).sum() > 100 and (labels == 2).sum() > 100
    nifti = run_measurement(
        MeasureRequest(
            series=tmp_path / "ct",
            labels=write_label_nifti(phantom, tmp_path / "l.nii.gz", array=labels),
            other_tumor_labels=(("3", "adrenal"),),
        )
    )
    nrrd = run_measurement(
        MeasureRequest(
            series=tmp_path / "ct",
            labels=write_label_nifti(phantom, tmp_path / "l.nrrd", array=labels),
            other_tumor_labels=(("3", "adrenal"),),
        )
    )
    seg = run_measurement(
        MeasureRequest(
            series=tmp_path / "ct",
            labels=write_seg(phantom, files, tmp_path / "seg.dcm", liver_includes_tumors=False),
            tumor_labels=("Tumor 1",),
            other_tumor_labels=(("Tumor 2", "adrenal"),),
        )
    )
    for out in (nifti, nrrd, seg):
        organs = sorted((les["organ"], les["hepatic"]) for les in out["lesions"])
        assert organs == [("adrenal", False), ("liver", True)], out["lesions"]
        assert out["extrahepatic_tumor_volume_ml"] == pytest.approx(
            (labels == 3).sum() * VOXEL_ML, rel=1e-12
        )
        assert out["tumor_volume_ml"] == pytest.approx((labels == 2).sum() * VOXEL_ML, rel=1e-12)
    assert nrrd["burden_fraction"] == nifti["burden_fraction"] == seg["burden_fraction"]
