"""REST uploads: idempotency, conflicts, zips and their defences, size limits, concurrency."""

from __future__ import annotations

import io
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from sqlalchemy import func, select

from app.db.models import AuditEvent, Instance
from app.settings import Settings
from tests.app.conftest import SeriesFiles, Service, dicom_parts, running_service


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _blob_files(settings: Settings) -> list[Path]:
    root = settings.blob_dir
    return [p for p in root.rglob("*") if p.is_file() and ".incoming" not in p.parts]


def _count(service: Service, model: type, *where: Any) -> int:
    with service.server.session_factory() as s:
        return int(s.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_upload_series_reports_studies_series_and_phase(
    service: Service, ct_series: SeriesFiles
) -> None:
    """A DICOM series uploads as 201 with its study (date, description, PatientID digest),
    series (modality, count, phase, number, description)."""
    import hashlib

    r = service.client().post("/v1/uploads", files=dicom_parts(ct_series.files))
    assert r.status_code == 201, r.text
    body = r.json()
    ds = pydicom.dcmread(ct_series.files[0], stop_before_pixels=True)
    assert body["studies"] == [
        {
            "study_instance_uid": ds.StudyInstanceUID,
            "study_date": f"{ds.StudyDate[:4]}-{ds.StudyDate[4:6]}-{ds.StudyDate[6:]}",
            "study_description": ds.get("StudyDescription", ""),
            "patient_id_digest": hashlib.sha256(ds.PatientID.encode()).hexdigest(),
            "series": [
                {
                    "series_instance_uid": ds.SeriesInstanceUID,
                    "modality": "CT",
                    "instances": len(ct_series.files),
                    "phase": "portal_venous",
                    "series_number": int(ds.SeriesNumber),
                    "series_description": ds.SeriesDescription,
                }
            ],
        }
    ]
    assert (body["stored"], body["duplicates"]) == (len(ct_series.files), 0)
    listed = service.client().get("/v1/studies").json()
    assert listed[0]["series"][0]["instances"] == len(ct_series.files)


def test_blobs_are_content_addressed(service: Service, ct_series: SeriesFiles) -> None:
    """Each instance is stored once under blobs/ab/cdef..., named by its SHA-256."""
    import hashlib

    service.client().post("/v1/uploads", files=dicom_parts(ct_series.files))
    blobs = _blob_files(service.settings)
    assert len(blobs) == len(ct_series.files)
    for blob in blobs:
        digest = hashlib.sha256(blob.read_bytes()).hexdigest()
        assert (
            blob.relative_to(service.settings.blob_dir).as_posix() == f"{digest[:2]}/{digest[2:]}"
        )


def test_reupload_is_idempotent(service: Service, ct_series: SeriesFiles) -> None:
    """Sending the same instances again stores nothing new and is not an error."""
    client = service.client()
    client.post("/v1/uploads", files=dicom_parts(ct_series.files))
    r = client.post("/v1/uploads", files=dicom_parts(ct_series.files))
    assert r.status_code == 201
    assert (r.json()["stored"], r.json()["duplicates"]) == (0, len(ct_series.files))
    assert _count(service, Instance) == len(ct_series.files)
    assert len(_blob_files(service.settings)) == len(ct_series.files)
    assert _count(service, AuditEvent, AuditEvent.action == "instance.stored") == len(
        ct_series.files
    )


def test_conflicting_content_is_409(
    service: Service, ct_series: SeriesFiles, tmp_path: Path
) -> None:
    """The same SOP Instance UID with different bytes is a 409 problem; the stored copy stays."""
    client = service.client()
    client.post("/v1/uploads", files=dicom_parts(ct_series.files[:1]))
    ds = pydicom.dcmread(ct_series.files[0])
    ds.SeriesDescription = "EDITED"
    changed = tmp_path / "changed.dcm"
    ds.save_as(changed)
    r = client.post("/v1/uploads", files=dicom_parts([changed]))
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"].endswith("instance-conflict")
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert ds.SOPInstanceUID in problem["detail"]
    assert _count(service, Instance) == 1


def test_zip_upload_skips_non_dicom_members(service: Service, ct_series: SeriesFiles) -> None:
    """A zip of the series (in a folder, with a README) stores every instance, lists the rest."""
    members = {f"study/ct/{p.name}": p.read_bytes() for p in ct_series.files}
    members["study/README.txt"] = b"not dicom"
    members["__MACOSX/._IM0001.dcm"] = b"resource fork"
    r = service.client().post("/v1/uploads", files=[("files", ("s.zip", _zip(members)))])
    assert r.status_code == 201, r.text
    assert r.json()["stored"] == len(ct_series.files)
    assert [s["name"] for s in r.json()["skipped"]] == ["README.txt"]


def test_non_dicom_file_is_415(service: Service) -> None:
    """A file that is not DICOM (and not a zip) is refused as 415 not-dicom."""
    r = service.client().post("/v1/uploads", files=[("files", ("notes.txt", b"hello" * 50))])
    assert r.status_code == 415
    assert r.json()["type"].endswith("not-dicom")
    assert "notes.txt" in r.json()["detail"]


def test_no_files_is_422(service: Service) -> None:
    """A form without ``files`` is a 422 problem."""
    r = service.client().post("/v1/uploads", data={"other": "x"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


def _bomb() -> bytes:
    return _zip({"bomb.dcm": b"\0" * (8 << 20)})


@pytest.mark.parametrize(
    ("members", "needle"),
    [
        ({"../evil.dcm": b"x"}, "zip slip"),
        ({"/etc/evil.dcm": b"x"}, "zip slip"),
        ({"a/../../evil.dcm": b"x"}, "zip slip"),
        ({"inner.zip": b"PK\x03\x04"}, "nested"),
    ],
    ids=["dotdot", "absolute", "deep-dotdot", "nested-zip"],
)
def test_unsafe_zip_is_400(service: Service, members: dict[str, bytes], needle: str) -> None:
    """Zip slip names and nested archives are refused as 400 unsafe-archive."""
    r = service.client().post("/v1/uploads", files=[("files", ("x.zip", _zip(members)))])
    assert r.status_code == 400
    assert r.json()["type"].endswith("unsafe-archive")
    assert needle in r.json()["detail"]


def test_zip_bomb_is_400(service: Service) -> None:
    """A member that expands more than the allowed ratio is refused before it is inflated."""
    r = service.client().post("/v1/uploads", files=[("files", ("b.zip", _bomb()))])
    assert r.status_code == 400
    assert "zip bomb" in r.json()["detail"]
    assert _blob_files(service.settings) == []


def test_zip_member_count_limit(tmp_path: Path) -> None:
    """More members than ``max_zip_members`` is refused."""
    settings = Settings(home=tmp_path / "h", workers=0, max_zip_members=3)
    with running_service(settings) as svc:
        data = _zip({f"{i}.dcm": b"x" for i in range(4)})
        r = svc.client().post("/v1/uploads", files=[("files", ("m.zip", data))])
    assert r.status_code == 400
    assert "4 members; the limit is 3" in r.json()["detail"]


def test_body_over_limit_is_413(tmp_path: Path, ct_series: SeriesFiles) -> None:
    """A body over ``max_upload_bytes`` is 413, whether its length is declared or streamed."""
    settings = Settings(home=tmp_path / "h", workers=0, max_upload_bytes=16 * 1024)
    with running_service(settings) as svc:
        client = svc.client()
        declared = client.post("/v1/uploads", files=dicom_parts(ct_series.files))
        assert declared.status_code == 413
        assert declared.json()["type"].endswith("upload-too-large")

        boundary = "b0undary"

        def chunks() -> Iterator[bytes]:
            yield (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                'filename="big.dcm"\r\nContent-Type: application/dicom\r\n\r\n'
            ).encode()
            for _ in range(40):
                yield b"\0" * 4096
            yield f"\r\n--{boundary}--\r\n".encode()

        streamed = client.post(
            "/v1/uploads",
            content=chunks(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert streamed.status_code == 413
        assert streamed.headers["content-type"].startswith("application/problem+json")
        assert _blob_files(settings) == []


def test_concurrent_identical_uploads_store_one_copy(
    service: Service, ct_series: SeriesFiles
) -> None:
    """Six clients sending the same series at once all succeed; one copy of each is stored."""
    statuses: list[int] = []
    barrier = threading.Barrier(6)
    lock = threading.Lock()

    def send() -> None:
        client = service.client()
        barrier.wait()
        status = client.post("/v1/uploads", files=dicom_parts(ct_series.files)).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [201] * 6
    n = len(ct_series.files)
    assert _count(service, Instance) == n
    assert len(_blob_files(service.settings)) == n
    assert _count(service, AuditEvent, AuditEvent.action == "instance.stored") == n
    verify = service.client("admin").get("/v1/audit/verify").json()
    assert verify["ok"], verify
