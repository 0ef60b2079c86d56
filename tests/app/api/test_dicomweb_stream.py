"""DICOMweb streaming and edge cases: memory of a large STOW, size limits, multipart oddities,
native frames of multi-frame and 1-bit instances, and Accept negotiation."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from app.settings import Settings
from tests.app._dicomweb_helpers import multipart, synthetic_instance, to_bytes
from tests.app.conftest import Service, running_service

_MIB = 1 << 20
BOUNDARY = "stream-b0undary"
CTYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def _streamed_body(files: list[Path], chunk: int = 256 << 10) -> Iterator[bytes]:
    """A multipart/related body read from files in small chunks (the client never holds it)."""
    for path in files:
        yield f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        with open(path, "rb") as fh:
            while data := fh.read(chunk):
                yield data
        yield b"\r\n"
    yield f"--{BOUNDARY}--\r\n".encode()


def _parts(response: httpx.Response) -> list[tuple[str, bytes]]:
    """(Content-Type, body) of each part of a multipart/related response."""
    boundary = re.search(r"boundary=([^;\s]+)", response.headers["content-type"])
    assert boundary is not None
    out = []
    for raw in response.content.split(f"--{boundary.group(1)}".encode())[1:-1]:
        head, body = raw.split(b"\r\n\r\n", 1)
        ctype = head.decode().strip().split(":", 1)[1].strip()
        out.append((ctype, body[:-2]))
    return out


def test_large_stow_streams_in_bounded_memory(service: Service, tmp_path: Path) -> None:
    """A 50 MB STOW-RS body is stored with a memory peak far below its size (tracemalloc)."""
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    files = []
    for n in range(1, 11):
        ds = synthetic_instance(study, series, n, frames=10, rows=512, columns=512)
        path = tmp_path / f"big{n}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    total = sum(p.stat().st_size for p in files)
    assert total > 50 * 1_000_000
    client = service.client()
    tracemalloc.start()
    try:
        r = client.post(
            "/dicomweb/studies", content=_streamed_body(files), headers={"Content-Type": CTYPE}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 200, r.text
    assert len(r.json()["00081199"]["Value"]) == 10
    assert peak < 16 * _MIB, f"peak {peak / _MIB:.1f} MiB for a {total / _MIB:.0f} MiB body"
    got = client.get(
        f"/dicomweb/studies/{study}/series/{series}/instances/"
        f"{pydicom.dcmread(files[4], stop_before_pixels=True).SOPInstanceUID}",
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
    )
    assert _parts(got)[0][1] == files[4].read_bytes()


@pytest.fixture
def small_limits(tmp_path: Path) -> Iterator[Service]:
    """A service accepting instances up to 64 KiB and bodies up to 1 MiB."""
    settings = Settings(
        home=tmp_path / "home", workers=0, max_instance_bytes=64 << 10, max_upload_bytes=_MIB
    )
    with running_service(settings) as svc:
        yield svc


def test_part_over_the_limit_is_413_and_earlier_parts_stay(small_limits: Service) -> None:
    """A part over the per-instance limit answers 413 problem; instances before it are stored."""
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    small = synthetic_instance(study, series, 1)
    big = synthetic_instance(study, series, 2, rows=256, columns=256)
    body, ctype = multipart([to_bytes(small), to_bytes(big)])
    client = small_limits.client()
    r = client.post("/dicomweb/studies", content=body, headers={"Content-Type": ctype})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "part 2" in r.json()["detail"]
    found = client.get("/dicomweb/studies", params={"StudyInstanceUID": study}).json()
    assert found[0]["00201208"]["Value"] == [1]


def test_body_over_the_total_limit_is_413(small_limits: Service) -> None:
    """A body over the request limit answers 413 problem, declared or chunked."""
    parts = [
        to_bytes(synthetic_instance(pydicom.uid.generate_uid(), pydicom.uid.generate_uid(), n))
        for n in range(1, 4)
    ]
    body, ctype = multipart(parts)
    padded = body + b"\r\n" * (_MIB // 2 + 1)  # epilogue: ignored by the parser, counted
    client = small_limits.client()
    declared = client.post("/dicomweb/studies", content=padded, headers={"Content-Type": ctype})
    assert declared.status_code == 413
    chunked = client.post(
        "/dicomweb/studies",
        content=iter([padded[:400_000], padded[400_000:]]),
        headers={"Content-Type": ctype},
    )
    assert chunked.status_code == 413
    assert chunked.headers["content-type"].startswith("application/problem+json")


def test_preamble_and_truncated_last_part(service: Service) -> None:
    """A MIME preamble is skipped; a truncated last part fails (C000H), the others are stored."""
    study = pydicom.uid.generate_uid()
    a, b = (synthetic_instance(study, pydicom.uid.generate_uid(), n) for n in (1, 2))
    body, ctype = multipart([to_bytes(a)])
    client = service.client()
    r = client.post(
        "/dicomweb/studies", content=b"a preamble\r\n" + body, headers={"Content-Type": ctype}
    )
    assert r.status_code == 200
    cut, ctype = multipart([to_bytes(b), to_bytes(a)])
    truncated = cut[: cut.rindex(b"--b0undary") - 500]
    r = client.post("/dicomweb/studies", content=truncated, headers={"Content-Type": ctype})
    assert r.status_code == 202
    result = Dataset.from_json(r.json())
    assert result.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == b.SOPInstanceUID
    assert result.FailedSOPSequence[0].FailureReason == 0xC000
    empty = client.post(
        "/dicomweb/studies", content=b"--b0undary--\r\n", headers={"Content-Type": ctype}
    )
    assert empty.status_code == 422


@pytest.fixture(scope="module")
def multiframe(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Service, Dataset, Dataset]]:
    """A stored 5-frame 16-bit instance and a 3-frame 1-bit one of 5x5 (frames not byte-aligned)."""
    study, series = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    grey = synthetic_instance(study, series, 1, frames=5, rows=12, columns=10)
    bits = synthetic_instance(study, series, 2, frames=3, rows=5, columns=5, bits=1)
    body, ctype = multipart([to_bytes(grey), to_bytes(bits)])
    home = tmp_path_factory.mktemp("frames") / "home"
    with running_service(Settings(home=home, workers=0)) as svc:
        r = svc.client().post("/dicomweb/studies", content=body, headers={"Content-Type": ctype})
        assert r.status_code == 200, r.text
        yield svc, grey, bits


def _url(ds: Dataset) -> str:
    return (
        f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )


def test_native_frames_of_a_multiframe_instance(
    multiframe: tuple[Service, Dataset, Dataset],
) -> None:
    """Frames 2 and 5 are their byte ranges; bare octet-stream gives one frame; 6 is 404."""
    svc, grey, _ = multiframe
    frame = 12 * 10 * 2
    data = grey.PixelData
    client = svc.client()
    r = client.get(f"{_url(grey)}/frames/2,5")
    assert r.headers["content-type"].startswith(
        'multipart/related; type="application/octet-stream"'
    )
    parts = _parts(r)
    assert [p[1] for p in parts] == [data[frame : 2 * frame], data[4 * frame : 5 * frame]]
    assert all("transfer-syntax=1.2.840.10008.1.2.1" in p[0] for p in parts)
    plain = client.get(f"{_url(grey)}/frames/3", headers={"Accept": "application/octet-stream"})
    assert plain.headers["content-type"] == "application/octet-stream"
    assert plain.content == data[2 * frame : 3 * frame]
    assert (
        client.get(
            f"{_url(grey)}/frames/1,2", headers={"Accept": "application/octet-stream"}
        ).status_code
        == 406
    )
    assert client.get(f"{_url(grey)}/frames/6").status_code == 404


def test_one_bit_frames_are_repacked(multiframe: tuple[Service, Dataset, Dataset]) -> None:
    """Each 25-bit frame of a 1-bit instance comes packed from bit 0; bulk data is the stream."""
    svc, _, bits = multiframe
    stream = np.unpackbits(np.frombuffer(bits.PixelData, np.uint8), bitorder="little")
    client = svc.client()
    for n in (1, 2, 3):
        want = np.packbits(stream[(n - 1) * 25 : n * 25], bitorder="little").tobytes()
        got = client.get(f"{_url(bits)}/frames/{n}", headers={"Accept": "application/octet-stream"})
        assert got.content == want, n
    bulk = client.get(
        f"{_url(bits)}/bulkdata/7FE00010", headers={"Accept": "application/octet-stream"}
    )
    assert bulk.content == bits.PixelData[: (75 + 7) // 8]


@pytest.mark.parametrize(
    ("accept", "status", "transfer_syntax"),
    [
        ("*/*", 200, "1.2.840.10008.1.2.1"),
        ('multipart/related; type="application/dicom"', 200, "1.2.840.10008.1.2.1"),
        (
            'multipart/related; type="application/dicom"; transfer-syntax=*',
            200,
            "1.2.840.10008.1.2.1",
        ),
        ('multipart/related; type="image/jpeg"', 406, None),
        (
            'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50',
            406,
            None,
        ),
    ],
    ids=["any", "default", "as-stored", "rendered", "jpeg-only"],
)
def test_instance_accept_negotiation(
    multiframe: tuple[Service, Dataset, Dataset],
    accept: str,
    status: int,
    transfer_syntax: str | None,
) -> None:
    """Retrieve answers the accepted DICOM transfer syntaxes, else 406 problem."""
    svc, grey, _ = multiframe
    r = svc.client().get(_url(grey), headers={"Accept": accept})
    assert r.status_code == status
    if transfer_syntax is None:
        assert r.headers["content-type"].startswith("application/problem+json")
    else:
        (part,) = _parts(r)
        assert f"transfer-syntax={transfer_syntax}" in part[0]
        assert part[1] == to_bytes(grey)
