"""DICOMweb end to end: dicomweb-client against the real service (uvicorn on a free port).

The bundled sample series (60 JPEG-LS CT slices) is stored once by STOW-RS for the module, then
found by QIDO-RS and read back by WADO-RS: instances as stored and decompressed, metadata,
frames and bulk data, checked against the files and pydicom's decoding of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from sqlalchemy import func, select

from app.db.models import Instance
from app.settings import Settings
from tests.app._dicomweb_helpers import multipart, synthetic_instance, to_bytes
from tests.app.auth.test_roles import registered_routes
from tests.app.conftest import Service, running_service

SAMPLE_CT = Path(__file__).resolve().parents[3] / "sample_dicom" / "ct"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def _sample_files(tmp: Path) -> list[Path]:
    """The bundled sample series, or (if absent) a few generated slices."""
    files = sorted(SAMPLE_CT.glob("*.dcm"))
    if files:
        return files
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    out = []
    for n in range(1, 6):
        path = tmp / f"IM{n:04d}.dcm"
        synthetic_instance(study, series, n).save_as(path, enforce_file_format=True)
        out.append(path)
    return out


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, list[Path]]]:
    """A service holding the sample series, stored by dicomweb-client (STOW-RS)."""
    home = tmp_path_factory.mktemp("dicomweb")
    files = _sample_files(home)
    with running_service(Settings(home=home / "home", workers=0)) as svc:
        client = dicomweb(svc)
        response = client.store_instances([pydicom.dcmread(p) for p in files])
        assert len(response.ReferencedSOPSequence) == len(files)
        assert "FailedSOPSequence" not in response
        yield svc, files


def dicomweb(svc: Service, role: str = "radiologist") -> DICOMwebClient:
    """A dicomweb-client on the service's /dicomweb root with the key of ``role``."""
    return DICOMwebClient(
        url=f"{svc.url}/dicomweb", headers={"Authorization": f"Bearer {svc.keys[role]}"}
    )


def _uids(path: Path) -> tuple[str, str, str]:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID


def _count_instances(svc: Service) -> int:
    with svc.server.session_factory() as s:
        return int(s.execute(select(func.count(Instance.id))).scalar_one())


def _count_blobs(svc: Service) -> int:
    root = svc.settings.blob_dir
    return sum(1 for p in root.rglob("*") if p.is_file() and ".incoming" not in p.parts)


def test_qido_finds_the_stored_study_series_and_instances(
    stored: tuple[Service, list[Path]],
) -> None:
    """QIDO-RS lists the study (with counts and modality), its series and all its instances."""
    svc, files = stored
    study_uid, series_uid, _ = _uids(files[0])
    client = dicomweb(svc)
    studies = client.search_for_studies(search_filters={"StudyInstanceUID": study_uid})
    assert len(studies) == 1
    study = Dataset.from_json(studies[0])
    assert study.StudyInstanceUID == study_uid
    assert study.ModalitiesInStudy == "CT"
    assert int(study.NumberOfStudyRelatedSeries) == 1
    assert int(study.NumberOfStudyRelatedInstances) == len(files)
    assert study.RetrieveURL.endswith(f"/dicomweb/studies/{study_uid}")
    header = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert study.StudyDate == header.StudyDate
    assert str(study.PatientID) == str(header.PatientID)
    series = [Dataset.from_json(s) for s in client.search_for_series(study_uid)]
    assert [s.SeriesInstanceUID for s in series] == [series_uid]
    assert series[0].Modality == "CT"
    assert int(series[0].NumberOfSeriesRelatedInstances) == len(files)
    assert series[0].SeriesNumber == header.SeriesNumber
    instances = [Dataset.from_json(i) for i in client.search_for_instances(study_uid, series_uid)]
    assert {i.SOPInstanceUID for i in instances} == {_uids(p)[2] for p in files}
    assert all(i.SOPClassUID == CT_IMAGE_STORAGE for i in instances)
    numbers = [int(i.InstanceNumber) for i in instances]
    assert numbers == sorted(numbers)


def test_wado_series_as_stored_is_byte_identical(stored: tuple[Service, list[Path]]) -> None:
    """A series retrieved with transfer-syntax=* gives back every stored file byte for byte."""
    svc, files = stored
    study_uid, series_uid, _ = _uids(files[0])
    client = dicomweb(svc)
    got = client.retrieve_series(study_uid, series_uid, media_types=(("application/dicom", "*"),))
    expected = {_uids(p)[2]: p.read_bytes() for p in files}
    assert sorted(ds.SOPInstanceUID for ds in got) == sorted(expected)
    raw = httpx.get(
        f"{svc.url}/dicomweb/studies/{study_uid}/series/{series_uid}",
        headers={
            "Authorization": f"Bearer {svc.keys['radiologist']}",
            "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*',
        },
        timeout=60,
    )
    boundary = re.search(r"boundary=([^;]+)", raw.headers["content-type"]).group(1)  # type: ignore[union-attr]
    parts = raw.content.split(f"--{boundary}".encode())[1:-1]
    bodies = sorted(p.split(b"\r\n\r\n", 1)[1][:-2] for p in parts)
    assert bodies == sorted(expected.values())


def test_wado_instance_in_little_endian_is_decompressed_with_equal_pixels(
    stored: tuple[Service, list[Path]],
) -> None:
    """Asked in Explicit VR Little Endian, a JPEG-LS instance is decompressed, same pixels."""
    svc, files = stored
    study_uid, series_uid, sop_uid = _uids(files[3])
    ds = dicomweb(svc).retrieve_instance(
        study_uid,
        series_uid,
        sop_uid,
        media_types=(("application/dicom", pydicom.uid.ExplicitVRLittleEndian),),
    )
    original = pydicom.dcmread(files[3])
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert ds.SOPInstanceUID == sop_uid
    np.testing.assert_array_equal(ds.pixel_array, original.pixel_array)


def test_wado_metadata_has_header_and_pixel_bulk_uri(stored: tuple[Service, list[Path]]) -> None:
    """Metadata of series and instance is the header as DICOM JSON, pixel data as a BulkDataURI."""
    svc, files = stored
    study_uid, series_uid, sop_uid = _uids(files[0])
    client = dicomweb(svc)
    series_meta = client.retrieve_series_metadata(study_uid, series_uid)
    assert len(series_meta) == len(files)
    meta = client.retrieve_instance_metadata(study_uid, series_uid, sop_uid)
    pixel = meta["7FE00010"]
    assert "InlineBinary" not in pixel and "Value" not in pixel
    assert pixel["BulkDataURI"].endswith(f"/instances/{sop_uid}/bulkdata/7FE00010")
    ds = Dataset.from_json({k: v for k, v in meta.items() if k != "7FE00010"})
    header = pydicom.dcmread(files[0], stop_before_pixels=True)
    assert (ds.Rows, ds.Columns, ds.SOPInstanceUID) == (header.Rows, header.Columns, sop_uid)
    assert ds.ImagePositionPatient == header.ImagePositionPatient
    study_meta = client.retrieve_study_metadata(study_uid)
    assert len(study_meta) == len(files)


def test_wado_frames_and_bulk_data_are_the_decoded_pixels(
    stored: tuple[Service, list[Path]],
) -> None:
    """Frame 1 and the pixel bulk data are pydicom's decoded pixels as little-endian bytes."""
    svc, files = stored
    study_uid, series_uid, sop_uid = _uids(files[10])
    client = dicomweb(svc)
    expected = pydicom.dcmread(files[10]).pixel_array.astype("<u2", copy=False).tobytes()
    (frame,) = client.retrieve_instance_frames(study_uid, series_uid, sop_uid, [1])
    assert frame == expected
    (octets,) = client.retrieve_instance_frames(
        study_uid, series_uid, sop_uid, [1], media_types=(("application/octet-stream", "*"),)
    )
    assert octets == expected
    meta = client.retrieve_instance_metadata(study_uid, series_uid, sop_uid)
    assert client.retrieve_bulkdata(meta["7FE00010"]["BulkDataURI"]) == [expected]


def test_wado_unknown_uids_and_frames_are_404_problems(stored: tuple[Service, list[Path]]) -> None:
    """Unknown study, series or instance, or a frame out of range, is a 404 problem."""
    svc, files = stored
    study_uid, series_uid, sop_uid = _uids(files[0])
    c = svc.client()
    base = f"/dicomweb/studies/{study_uid}/series/{series_uid}"
    for path in (
        "/dicomweb/studies/1.2.3",
        f"/dicomweb/studies/{study_uid}/series/1.2.3",
        f"{base}/instances/1.2.3",
        f"{base}/instances/1.2.3/metadata",
        f"{base}/instances/{sop_uid}/frames/2",
        f"/dicomweb/studies/1.2.3/series/{series_uid}/instances/{sop_uid}",
    ):
        r = c.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json")
    assert c.get(f"{base}/instances/{sop_uid}/frames/0,x").status_code == 422
    not_acceptable = c.get(f"{base}/instances/{sop_uid}/frames/1", headers={"Accept": "image/png"})
    assert not_acceptable.status_code == 406


def test_restow_stores_nothing_new_and_is_no_error(stored: tuple[Service, list[Path]]) -> None:
    """A second STOW of the same instances is 200, lists them as stored, adds no row or blob."""
    svc, files = stored
    rows, blobs = _count_instances(svc), _count_blobs(svc)
    response = dicomweb(svc).store_instances([pydicom.dcmread(p) for p in files[:5]])
    assert len(response.ReferencedSOPSequence) == 5
    assert "FailedSOPSequence" not in response
    assert (_count_instances(svc), _count_blobs(svc)) == (rows, blobs)


def test_conflicting_and_non_dicom_parts_fail_without_500(
    stored: tuple[Service, list[Path]],
) -> None:
    """Same UID with other content fails 0111H, a non-DICOM part C000H; the rest is stored (202)."""
    svc, files = stored
    original = pydicom.dcmread(files[0])
    changed = pydicom.dcmread(files[0])
    changed.SeriesDescription = "edited"
    fresh = synthetic_instance(original.StudyInstanceUID, pydicom.uid.generate_uid(), 1)
    body, ctype = multipart([to_bytes(changed), b"not a DICOM file at all", to_bytes(fresh)])
    r = svc.client().post("/dicomweb/studies", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 202
    assert r.headers["content-type"].startswith("application/dicom+json")
    result = Dataset.from_json(r.json())
    failed = {
        (f.get("ReferencedSOPInstanceUID", ""), f.FailureReason) for f in result.FailedSOPSequence
    }
    assert failed == {(original.SOPInstanceUID, 0x0111), ("", 0xC000)}
    assert [i.ReferencedSOPInstanceUID for i in result.ReferencedSOPSequence] == [
        fresh.SOPInstanceUID
    ]
    all_bad, ctype = multipart([b"garbage", to_bytes(changed)])
    r = svc.client().post("/dicomweb/studies", content=all_bad, headers={"Content-Type": ctype})
    assert r.status_code == 409
    assert len(Dataset.from_json(r.json()).FailedSOPSequence) == 2


def test_stow_to_a_study_url_refuses_other_studies(stored: tuple[Service, list[Path]]) -> None:
    """POST /studies/{study} stores that study's instances and fails others with C409H."""
    svc, _ = stored
    study = pydicom.uid.generate_uid()
    mine = synthetic_instance(study, pydicom.uid.generate_uid(), 1)
    other = synthetic_instance(pydicom.uid.generate_uid(), pydicom.uid.generate_uid(), 1)
    body, ctype = multipart([to_bytes(mine), to_bytes(other)])
    r = svc.client().post(
        f"/dicomweb/studies/{study}", content=body, headers={"Content-Type": ctype}
    )
    assert r.status_code == 202
    result = Dataset.from_json(r.json())
    assert result.FailedSOPSequence[0].FailureReason == 0xC409
    assert result.FailedSOPSequence[0].ReferencedSOPInstanceUID == other.SOPInstanceUID
    assert result.RetrieveURL.endswith(f"/dicomweb/studies/{study}")


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/dicom", 415),
        ('multipart/related; type="application/dicom+json"; boundary=x', 415),
        ('multipart/related; type="application/dicom"', 422),
    ],
    ids=["not-multipart", "metadata-stow", "no-boundary"],
)
def test_stow_refuses_other_media_types(
    stored: tuple[Service, list[Path]], content_type: str, status: int
) -> None:
    """STOW-RS takes multipart/related application/dicom with a boundary, else a problem."""
    svc, _ = stored
    r = svc.client().post("/dicomweb/studies", content=b"x", headers={"Content-Type": content_type})
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("role", ["edc", "admin"])
def test_edc_and_admin_get_403_problem_on_every_dicomweb_route(
    stored: tuple[Service, list[Path]], role: str
) -> None:
    """No pixel data and no DICOM for EDC or admin keys: 403 problem+json on every route."""
    svc, files = stored
    study_uid, series_uid, sop_uid = _uids(files[0])
    routes = sorted(
        (m, path) for m, path in registered_routes(svc.server.app) if path.startswith("/dicomweb")
    )
    assert len(routes) >= 16
    client = svc.client(role)
    values = {"study": study_uid, "series": series_uid, "instance": sop_uid, "frames": "1"}
    values["tag"] = "7FE00010"
    for method, template in routes:
        path = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)
        r = client.request(method, path)
        assert r.status_code == 403, f"{method} {path}"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 403


def test_stow_qido_wado_round_trip_on_each_database(backend_service: Service) -> None:
    """STOW, QIDO by date, WADO as stored and an idempotent re-STOW, on SQLite and PostgreSQL."""
    svc = backend_service
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    instances = [synthetic_instance(study, series, n) for n in (1, 2, 3)]
    client = dicomweb(svc)
    first = client.store_instances(instances)
    assert len(first.ReferencedSOPSequence) == 3
    again = client.store_instances(instances)
    assert len(again.ReferencedSOPSequence) == 3
    assert _count_instances(svc) == 3
    found = client.search_for_studies(search_filters={"StudyDate": "20240301-20240331"})
    assert [Dataset.from_json(s).StudyInstanceUID for s in found] == [study]
    listed = client.search_for_instances(study, series, search_filters={"InstanceNumber": "2"})
    assert [Dataset.from_json(i).SOPInstanceUID for i in listed] == [instances[1].SOPInstanceUID]
    got = client.retrieve_instance(study, series, instances[2].SOPInstanceUID)
    assert to_bytes(got) == to_bytes(instances[2])
