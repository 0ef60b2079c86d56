"""The hostile-input corpus through the API: every bad file is a 4xx problem (or a job that fails
with a clear error), never a 500, and nothing is half-stored.

Corpus (all generated here, seeded): DICOM truncated at many offsets, random bytes with and
without the ``DICM`` prefix, huge declared element lengths, wrong VRs and malformed UIDs, a
DICOMDIR; archives with zip slip names, bombs, lying or huge declared sizes, nesting, encryption,
symlinks, corruption; label maps of another geometry, without the chosen labels, corrupt, or a
gzip bomb; and extreme query and path values on every operation of the OpenAPI schema (NUL
characters and integers past 32 and 64 bits), on SQLite and PostgreSQL.

"Nothing half-stored": the rows of studies, series, instances, segmentations and measurements
and the set of blob files are the same before and after each refused request.
"""

from __future__ import annotations

import gzip
import io
import random
import re
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from app.archive.uploads import iter_zip_members
from app.db.models import Instance, Job, Measurement, Segmentation, Series, Study
from app.settings import Settings
from dicomio.errors import ArchiveError
from tests.app._http_steps import new_subject_with_baseline, upload_series
from tests.app.conftest import SeriesFiles, Service, running_service, wait_for_job

SEED = 4242
PROBLEM_FIELDS = {"type", "title", "status", "detail"}


def _fresh(template: Path, tag: str, **attrs: Any) -> bytes:
    """``template`` with new UIDs (deterministic per ``tag``) and ``attrs`` set."""
    ds = pydicom.dcmread(template)
    uid = generate_uid(entropy_srcs=[str(SEED), tag])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[str(SEED), tag, "series"])
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _patched(data: bytes, marker: bytes, new: bytes) -> bytes:
    """``data`` with the bytes ``marker`` replaced once (same length keeps the file aligned)."""
    assert data.count(marker) == 1, marker
    return data.replace(marker, new)


def _length_patched(data: bytes, marker: bytes, length: int) -> bytes:
    """The explicit-VR short length field of the element whose value is ``marker``, set."""
    at = data.index(marker)
    return data[: at - 2] + struct.pack("<H", length & 0xFFFF) + data[at:]


def _ob_length_patched(data: bytes, length: int) -> bytes:
    """A private OB element inserted before Pixel Data claiming ``length`` bytes."""
    at = data.index(b"\xe0\x7f\x10\x00")  # (7FE0,0010) Pixel Data, little endian
    element = struct.pack("<HH2sHI", 0x0029, 0x1010, b"OB", 0, length) + b"\0" * 16
    return data[:at] + element + data[at:]


def dicom_corpus(template: Path) -> Iterator[tuple[str, bytes]]:
    """Broken DICOM files, each named for what is wrong with it."""
    good = _fresh(template, "corpus")
    for cut in (0, 1, 64, 127, 128, 131, 132, 133, 140, 200, 300, 400, 500, 600):
        yield f"truncated-at-{cut}", good[:cut]
    rng = random.Random(SEED)
    for size in (1, 131, 132, 1000, 65536):
        noise = bytes(rng.getrandbits(8) for _ in range(size))
        yield f"random-{size}", noise
        yield f"random-{size}-after-DICM", b"\0" * 128 + b"DICM" + noise
    marked = _fresh(template, "marked", SeriesDescription="HUGELEN!")
    for length in (0xFFFF, 0xFFFE, 0x8000):
        yield f"lo-length-{length:#x}", _length_patched(marked, b"HUGELEN!", length)
    for length in (0xFFFFFFF0, 0x7FFFFFFF, 0x100000):  # all past the end of the file
        yield f"ob-length-{length:#x}", _ob_length_patched(good, length)
    uid = str(pydicom.dcmread(io.BytesIO(good)).SOPInstanceUID).encode()
    yield "uid-with-letters", good.replace(uid, b"9x" + uid[2:])
    yield "uid-vr-as-US", _patched(good, b"\x08\x00\x18\x00UI", b"\x08\x00\x18\x00US")
    ds = pydicom.dcmread(io.BytesIO(good))
    directory = pydicom.uid.UID("1.2.840.10008.1.3.10")  # Media Storage Directory Storage
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = directory
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    yield "dicomdir", buf.getvalue()


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _zip_with_sizes(data: bytes, declared: int) -> bytes:
    """A stored zip whose local and central headers both claim ``declared`` bytes."""
    raw = bytearray(_zip({"a.dcm": data}, zipfile.ZIP_STORED))
    struct.pack_into("<I", raw, 22, declared)
    struct.pack_into("<I", raw, raw.index(b"PK\x01\x02") + 24, declared)
    return bytes(raw)


def _zip_flagged(data: bytes, flag: int = 0, attr: int | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("a.dcm")
        if attr is not None:
            info.external_attr = attr
        zf.writestr(info, data)
    raw = bytearray(buf.getvalue())
    if flag:
        for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = raw.index(sig) + offset
            struct.pack_into("<H", raw, at, struct.unpack_from("<H", raw, at)[0] | flag)
    return bytes(raw)


def _zip_method(data: bytes, method: int) -> bytes:
    """``data`` (a zip) with its first member's compression method set to ``method``."""
    raw = bytearray(data)
    struct.pack_into("<H", raw, 8, method)
    struct.pack_into("<H", raw, raw.index(b"PK\x01\x02") + 10, method)
    return bytes(raw)


def _zip_central_offset(data: bytes, offset: int) -> bytes:
    """``data`` (a zip) whose end record points its central directory at ``offset``."""
    raw = bytearray(data)
    struct.pack_into("<I", raw, raw.rindex(b"PK\x05\x06") + 16, offset)
    return bytes(raw)


def _zip_bad_utf8_name(dcm: bytes) -> bytes:
    """A member name flagged UTF-8 (bit 11) that is not valid UTF-8."""
    raw = bytearray(_zip({"a\u00e9.dcm": dcm}))
    name = "a\u00e9.dcm".encode()
    for sig, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        at = raw.index(sig)
        struct.pack_into("<H", raw, at + flag_at, 0x800)
        raw[at + name_at : at + name_at + len(name)] = b"a\xff\xfe.dcm"[: len(name)].ljust(
            len(name), b"m"
        )
    return bytes(raw)


def archive_corpus(dcm: bytes) -> Iterator[tuple[str, bytes, str]]:
    """Hostile zips with the problem type they must get."""
    good = _zip({"a.dcm": dcm, "b.dcm": dcm[:-2] + b"\0\0"})
    for cut in (4, 30, 100, len(good) // 2, len(good) - 22):
        yield f"zip-truncated-at-{cut}", good[:cut], "unsafe-archive"
    yield "zip-slip-dotdot", _zip({"../../a.dcm": dcm}), "unsafe-archive"
    yield "zip-slip-absolute", _zip({"/etc/cron.d/a.dcm": dcm}), "unsafe-archive"
    yield "zip-slip-backslash", _zip({"..\\..\\a.dcm": dcm}), "unsafe-archive"
    yield "zip-bomb", _zip({"bomb.dcm": b"\0" * (16 << 20)}), "unsafe-archive"
    yield "zip-lying-small", _zip_with_sizes(dcm, 100), "unsafe-archive"
    yield "zip-declares-4-GiB", _zip_with_sizes(dcm, 0xFFFFFFF0), "unsafe-archive"
    nested = _zip({"a.dcm": dcm})
    for depth in range(4):
        nested = _zip({f"level{depth}.zip": nested})
    yield "zip-nested-4-deep", nested, "unsafe-archive"
    yield "zip-encrypted-flag", _zip_flagged(dcm, flag=0x1), "unsafe-archive"
    yield "zip-symlink", _zip_flagged(dcm, attr=(0o120777 << 16)), "unsafe-archive"
    corrupt = bytearray(good)
    corrupt[60:80] = b"\xff" * 20  # inside the first member's deflate stream
    yield "zip-corrupt-deflate", bytes(corrupt), "unsafe-archive"
    yield "zip-unknown-method", _zip_method(good, 99), "unsafe-archive"
    yield "zip-strong-encryption", _zip_flagged(dcm, flag=0x41), "unsafe-archive"
    yield "zip-negative-offset", _zip_central_offset(good, 0x7FFFFFF0), "unsafe-archive"
    yield "zip-bad-utf8-name", _zip_bad_utf8_name(dcm), "unsafe-archive"
    yield "zip-of-nested-renamed", _zip({"inner.dcm": _zip({"a.dcm": dcm})}), "not-dicom"
    yield "zip-empty", _zip({}), "not-dicom"


# --- state --------------------------------------------------------------------------------------


def _state(svc: Service) -> tuple[dict[str, int], frozenset[str]]:
    """Row counts and blob files (temporary files of the blob store excluded)."""
    counts = {}
    with svc.server.session_factory() as s:
        for model in (Study, Series, Instance, Segmentation, Measurement):
            counts[model.__tablename__] = int(
                s.execute(select(func.count()).select_from(model)).scalar_one()
            )
    root = svc.settings.blob_dir
    names = frozenset(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".tmp-")
    )
    return counts, names


def _assert_problem(r: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert r.status_code < 500, (r.status_code, r.text)
    assert r.status_code in statuses, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert set(body) >= PROBLEM_FIELDS and body["status"] == r.status_code
    assert body["detail"] and "Traceback" not in body["detail"]
    return body


def _stow(client: httpx.Client, data: bytes) -> httpx.Response:
    body = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n--b--\r\n"
    ctype = 'multipart/related; type="application/dicom"; boundary=b'
    return client.post("/dicomweb/studies", content=body, headers={"Content-Type": ctype})


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the whole corpus (every case must leave its state unchanged)."""
    home = tmp_path_factory.mktemp("hostile") / "home"
    with running_service(Settings(home=home, workers=1)) as service:
        yield service


# --- DICOM files --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(ct_series: SeriesFiles) -> dict[str, bytes]:
    """The broken DICOM files by name."""
    return dict(dicom_corpus(ct_series.files[0]))


CORPUS_NAMES = [
    *(f"truncated-at-{c}" for c in (0, 1, 64, 127, 128, 131, 132, 133, 140, 200, 300, 400, 500)),
    "truncated-at-600",
    *(f"random-{n}{s}" for n in (1, 131, 132, 1000, 65536) for s in ("", "-after-DICM")),
    *(f"lo-length-{n:#x}" for n in (0xFFFF, 0xFFFE, 0x8000)),
    "ob-length-0xfffffff0",
    "ob-length-0x7fffffff",
    "ob-length-0x100000",
    "uid-with-letters",
    "uid-vr-as-US",
    "dicomdir",
]


def test_corpus_names_match_the_generator(corpus: dict[str, bytes]) -> None:
    """Every generated file is exercised below (names listed for readable test ids)."""
    assert set(corpus) == set(CORPUS_NAMES)


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_broken_dicom_is_4xx_on_every_ingest_route(
    svc: Service, corpus: dict[str, bytes], name: str
) -> None:
    """A broken file gets a 4xx problem over REST (alone and zipped) and a failure reason over
    STOW-RS; nothing is stored."""
    data = corpus[name]
    client = svc.client()
    before = _state(svc)
    _assert_problem(client.post("/v1/uploads", files=[("files", (f"{name}.dcm", data))]), 415, 422)
    zipped = client.post("/v1/uploads", files=[("files", ("x.zip", _zip({f"{name}.dcm": data})))])
    _assert_problem(zipped, 415, 422)
    stow = _stow(client, data)
    assert stow.status_code in (409, 415, 422), (stow.status_code, stow.text)
    if stow.status_code == 409:  # DICOM's store response: every part failed, with a reason
        assert stow.json()["00081198"]["Value"][0]["00081197"]["Value"][0] >= 0xA700
    assert _state(svc) == before


def test_dicom_truncated_inside_pixel_data_is_refused(svc: Service, ct_series: SeriesFiles) -> None:
    """A file that ends inside its Pixel Data is refused (422) on both ingest routes, not stored
    as if complete (the header alone would read fine)."""
    data = _fresh(ct_series.files[0], "cut-in-pixels")
    client = svc.client()
    before = _state(svc)
    for cut in (len(data) // 2, len(data) - 100, len(data) - 1):
        r = client.post("/v1/uploads", files=[("files", ("cut.dcm", data[:cut]))])
        assert "cut.dcm" in _assert_problem(r, 422)["detail"]
        stow = _stow(client, data[:cut])
        assert stow.status_code == 409, stow.text
        assert _state(svc) == before, "a truncated instance was stored"
    assert client.post("/v1/uploads", files=[("files", ("whole.dcm", data))]).status_code == 201


# --- archives -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archives(ct_series: SeriesFiles) -> dict[str, tuple[bytes, str]]:
    """The hostile zips by name, with the problem type each must get."""
    dcm = _fresh(ct_series.files[0], "archive")
    return {name: (data, slug) for name, data, slug in archive_corpus(dcm)}


ARCHIVE_NAMES = [
    *(f"zip-truncated-at-{c}" for c in (4, 30, 100)),
    "zip-truncated-at-half",
    "zip-truncated-at-end",
    "zip-slip-dotdot",
    "zip-slip-absolute",
    "zip-slip-backslash",
    "zip-bomb",
    "zip-lying-small",
    "zip-declares-4-GiB",
    "zip-nested-4-deep",
    "zip-encrypted-flag",
    "zip-symlink",
    "zip-corrupt-deflate",
    "zip-unknown-method",
    "zip-strong-encryption",
    "zip-negative-offset",
    "zip-bad-utf8-name",
    "zip-of-nested-renamed",
    "zip-empty",
]


def _archive(archives: dict[str, tuple[bytes, str]], name: str) -> tuple[bytes, str]:
    truncated = sorted(
        (n for n in archives if n.startswith("zip-truncated-at-")), key=lambda n: int(n[17:])
    )
    aliases = {"zip-truncated-at-half": truncated[-2], "zip-truncated-at-end": truncated[-1]}
    return archives[aliases.get(name, name)]


@pytest.mark.parametrize("name", ARCHIVE_NAMES)
def test_hostile_archives_are_refused_and_store_nothing(
    svc: Service, archives: dict[str, tuple[bytes, str]], name: str
) -> None:
    """Slip, bomb, lying sizes, nesting, encryption, symlinks, corruption: a 4xx problem of the
    expected type, before anything of the archive is stored."""
    data, slug = _archive(archives, name)
    before = _state(svc)
    r = svc.client().post("/v1/uploads", files=[("files", (f"{name}.zip", data))])
    body = _assert_problem(r, 400, 413, 415)
    assert body["type"].endswith(slug), body
    assert _state(svc) == before


def test_archive_names_match_the_generator(archives: dict[str, tuple[bytes, str]]) -> None:
    """Every generated archive is exercised (the truncations by alias)."""
    named = {n for n in archives if not n.startswith("zip-truncated-at-")}
    assert named == {n for n in ARCHIVE_NAMES if not n.startswith("zip-truncated-at-")}


def test_mutated_archives_fail_only_as_unsafe_archives(
    tmp_path: Path, ct_series: SeriesFiles
) -> None:
    """3000 seeded byte mutations of a valid zip (headers hit more often): reading the members
    fails with ArchiveError or yields them; no other exception (each one a 500 over HTTP)."""
    settings = Settings(home=tmp_path / "home")
    dcm = _fresh(ct_series.files[0], "mutated")
    good = _zip({"a.dcm": dcm, "dir/b.dcm": dcm[:-2] + b"\0\0"})
    rng = random.Random(SEED)
    escaped: dict[str, int] = {}
    for _ in range(3000):
        mutant = bytearray(good)
        for _ in range(rng.choice((1, 2, 4, 8))):
            at = rng.randrange(len(mutant))
            if rng.random() < 0.5:  # the local header or the central directory and end record
                at = rng.choice((rng.randrange(60), rng.randrange(len(mutant) - 130, len(mutant))))
            mutant[at] = rng.randrange(256)
        try:
            for _name, member in iter_zip_members(io.BytesIO(bytes(mutant)), settings):
                member.read()
        except ArchiveError:
            pass
        except Exception as exc:  # anything else escapes the mapping table
            escaped[type(exc).__name__] = escaped.get(type(exc).__name__, 0) + 1
    assert not escaped, escaped


def test_too_many_archive_members_is_refused(tmp_path: Path, ct_series: SeriesFiles) -> None:
    """An archive with more members than allowed is refused before any is read."""
    settings = Settings(home=tmp_path / "home", workers=0, max_zip_members=5)
    dcm = ct_series.files[0].read_bytes()
    with running_service(settings) as service:
        before = _state(service)
        data = _zip({f"{n}.dcm": dcm for n in range(6)})
        r = service.client().post("/v1/uploads", files=[("files", ("many.zip", data))])
        assert _assert_problem(r, 400)["type"].endswith("unsafe-archive")
        assert _state(service) == before


# --- label maps and measurement jobs ------------------------------------------------------------


@pytest.fixture(scope="module")
def measurable(svc: Service, ct_series: SeriesFiles) -> dict[str, str]:
    """The phantom series stored with a subject and baseline timepoint."""
    client = svc.client()
    stored = upload_series(client, ct_series.files)
    tp = new_subject_with_baseline(client, "H-1", stored.study_uid, "2024-01-01")
    return {"timepoint_id": tp, "series_instance_uid": stored.series_uid}


def _nifti(array: Any, ref: Any, **geometry: Any) -> bytes:
    img: Any = sitk.GetImageFromArray(np.asarray(array, dtype=np.uint8))
    img.SetSpacing(geometry.get("spacing", ref.GetSpacing()))
    img.SetOrigin(geometry.get("origin", ref.GetOrigin()))
    img.SetDirection(ref.GetDirection())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.nii.gz"
        sitk.WriteImage(img, str(path))
        return path.read_bytes()


def _gzip_bomb(shape_xyz: tuple[int, int, int]) -> bytes:
    """A NIfTI-1 header declaring ``shape_xyz`` uint8 voxels, then that many zeros, gzipped."""
    header = bytearray(348)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, 3, *shape_xyz, 1, 1, 1, 1)
    struct.pack_into("<hh", header, 70, 2, 8)  # datatype uint8, bitpix 8
    struct.pack_into("<8f", header, 76, 1, 1, 1, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352)  # vox_offset
    header[344:348] = b"n+1\0"
    out = zlib.compressobj(9, zlib.DEFLATED, 31)
    data = out.compress(bytes(header) + b"\0" * 4)
    chunk = b"\0" * (1 << 20)
    total = shape_xyz[0] * shape_xyz[1] * shape_xyz[2]
    for _ in range(total // len(chunk)):
        data += out.compress(chunk)
    return data + out.compress(b"\0" * (total % len(chunk))) + out.flush()


def label_corpus(labels: Path) -> Iterator[tuple[str, str, bytes, dict[str, Any], str]]:
    """(case, file name, bytes, measurement options, problem type the job must fail with)."""
    ref = sitk.ReadImage(str(labels))
    arr = sitk.GetArrayFromImage(ref)
    good = labels.read_bytes()
    yield "smaller-grid", "l.nii.gz", _nifti(arr[:8, :40, :40], ref), {}, "label"
    yield "other-spacing", "l.nii.gz", _nifti(arr, ref, spacing=(1.0, 1.0, 1.0)), {}, "label"
    yield "other-origin", "l.nii.gz", _nifti(arr, ref, origin=(100.0, 0.0, 0.0)), {}, "label"
    yield "empty", "l.nii.gz", _nifti(np.zeros_like(arr), ref), {}, "label"
    yield "no-such-liver-label", "l.nii.gz", good, {"liver_label": "7"}, "label"
    yield "no-such-tumor-label", "l.nii.gz", good, {"tumor_labels": ["99"]}, "label"
    yield "liver-is-tumor", "l.nii.gz", good, {"liver_label": "2", "tumor_labels": ["2"]}, "label"
    yield "gzip-of-garbage", "l.nii.gz", gzip.compress(b"not a NIfTI" * 100), {}, "corrupt-file"
    yield "truncated-gzip", "l.nii.gz", good[: len(good) // 2], {}, "corrupt-file"
    yield "gzip-bomb-64MiB", "l.nii.gz", _gzip_bomb((1024, 1024, 64)), {}, "label"
    nrrd = b"NRRD0004\ntype: uint8\ndimension: %d\nsizes: %s\nencoding: raw\n\n"
    yield "nrrd-huge-sizes", "l.nrrd", nrrd % (3, b"100000 100000 100000") + b"\0" * 64, {}, ""
    yield "nrrd-negative-size", "l.nrrd", nrrd % (3, b"-1 48 48") + b"\0" * 64, {}, ""
    four_d = nrrd % (4, b"2 48 48 10") + b"\0" * (2 * 48 * 48 * 10)
    yield "nrrd-4d", "l.nrrd", four_d, {}, "label"


LABEL_CASES = [
    "smaller-grid",
    "other-spacing",
    "other-origin",
    "empty",
    "no-such-liver-label",
    "no-such-tumor-label",
    "liver-is-tumor",
    "gzip-of-garbage",
    "truncated-gzip",
    "gzip-bomb-64MiB",
    "nrrd-huge-sizes",
    "nrrd-negative-size",
    "nrrd-4d",
]


@pytest.fixture(scope="module")
def label_files(ct_series: SeriesFiles) -> dict[str, tuple[str, bytes, dict[str, Any], str]]:
    """The hostile label maps by case."""
    return {case: rest for case, *rest in label_corpus(ct_series.labels)}  # type: ignore[misc]


#: Label maps that cannot be read onto the series' grid: refused at upload (trial-record.md).
REFUSED_AT_UPLOAD = {
    "smaller-grid",
    "other-spacing",
    "other-origin",
    "gzip-of-garbage",
    "truncated-gzip",
    "gzip-bomb-64MiB",
    "nrrd-huge-sizes",
    "nrrd-negative-size",
    "nrrd-4d",
}


@pytest.mark.slow
@pytest.mark.parametrize("case", LABEL_CASES)
def test_bad_label_maps_are_refused_at_upload_or_fail_their_job_clearly(
    svc: Service,
    measurable: dict[str, str],
    label_files: dict[str, tuple[str, bytes, dict[str, Any], str]],
    case: str,
) -> None:
    """A label map that does not fit its series is a 4xx problem at upload naming what is wrong,
    nothing stored; one that fits but lacks the chosen labels is uploaded (201) and its job fails
    with a domain problem -- never an internal error -- and no measurement stored."""
    name, data, options, slug = label_files[case]
    client = svc.client()
    before = _state(svc)
    seg = client.post(
        "/v1/segmentations",
        files={"file": (name, data)},
        data={"series_instance_uid": measurable["series_instance_uid"]},
    )
    if case in REFUSED_AT_UPLOAD:
        assert 400 <= seg.status_code < 500, seg.text
        assert seg.json()["type"].endswith(slug or ""), seg.text
        assert name in seg.json()["detail"] or seg.status_code == 413, seg.text
        assert _state(svc) == before
        return
    assert seg.status_code == 201, seg.text
    measurements = _state(svc)[0]["measurements"]
    job = client.post(
        "/v1/measurements",
        json={
            **measurable,
            "segmentation_upload_id": seg.json()["segmentation_upload_id"],
            **options,
        },
    )
    assert job.status_code == 202, job.text
    done = wait_for_job(client, job.headers["location"], timeout_s=60)
    assert done["status"] == "failed", done
    assert not done["error_type"].endswith("internal-error"), done
    assert done["error_type"].endswith(slug or ""), done
    assert len(done["error"]) > 20 and "Traceback" not in done["error"], done
    assert _state(svc)[0]["measurements"] == measurements


def test_label_map_of_the_wrong_type_is_415(svc: Service, measurable: dict[str, str]) -> None:
    """A label map whose bytes are not what its name says is refused at upload, unstored."""
    before = _state(svc)
    for name, data in [
        ("l.nii.gz", b"hello" * 100),
        ("l.nrrd", b"\x1f\x8b" * 100),
        ("l.txt", b"x"),
    ]:
        r = svc.client().post(
            "/v1/segmentations",
            files={"file": (name, data)},
            data={"series_instance_uid": measurable["series_instance_uid"]},
        )
        _assert_problem(r, 415)
    assert _state(svc) == before


def test_a_ct_instance_is_no_segmentation(svc: Service, measurable: dict[str, str]) -> None:
    """Naming a CT instance as the segmentation is a 422 and queues nothing."""
    client = svc.client()
    series = measurable["series_instance_uid"]
    study = client.get("/v1/studies").json()
    uid = next(
        i["00080018"]["Value"][0]
        for s in study
        for se in s["series"]
        if se["series_instance_uid"] == series
        for i in client.get(
            f"/dicomweb/studies/{s['study_instance_uid']}/series/{series}/instances"
        ).json()[:1]
    )
    with svc.server.session_factory() as s:
        jobs = s.execute(select(func.count()).select_from(Job)).scalar_one()
    r = client.post("/v1/measurements", json={**measurable, "segmentation_sop_instance_uid": uid})
    _assert_problem(r, 422)
    with svc.server.session_factory() as s:
        assert s.execute(select(func.count()).select_from(Job)).scalar_one() == jobs


# --- extreme query and path values on every operation, both databases --------------------------

_HUGE = ("99999999999999999999", "-99999999999999999999", "2147483648", "9223372036854775808")


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield method.upper(), path, op.get("parameters", [])


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


@pytest.mark.slow
def test_extreme_values_anywhere_are_never_5xx(backend_service: Service) -> None:
    """NUL characters in every path parameter, huge integers in every integer query parameter,
    and NUL in every string query parameter: 4xx or an empty answer, never 5xx (PostgreSQL
    refuses NUL in text and integers past 32 bits where SQLite does not)."""
    svc = backend_service
    clients = {role: svc.client(role) for role in ("radiologist", "edc", "admin")}
    spec = clients["radiologist"].get("/openapi.json").json()
    failures = []
    for method, path, params in _operations(spec):
        if method not in ("GET", "DELETE"):
            continue
        requests: list[tuple[str, dict[str, str]]] = []
        if "{" in path:
            requests += [(_fill(path, v), {}) for v in ("%00", "a%00b", "x" * 300)]
        for p in params:
            if p.get("in") != "query":
                continue
            kind = p.get("schema", {}).get("type") or str(p.get("schema", {}).get("anyOf", ""))
            values = _HUGE if "integer" in kind else ("\x00", "a\x00b")
            requests += [(_fill(path, "x"), {p["name"]: v}) for v in values]
        for url, query in requests:
            for role, client in clients.items():
                r = client.request(method, url, params=query)
                if r.status_code >= 500:
                    failures.append(f"{method} {url} {query} as {role}: {r.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_nul_and_out_of_range_values_in_bodies_are_4xx(backend_service: Service) -> None:
    """NUL characters in JSON strings are refused with a 4xx on both databases."""
    client, admin = backend_service.client(), backend_service.client("admin")
    assert client.post("/v1/subjects", json={"subject_id": "N-1"}).status_code == 201
    cases = [
        (client, "POST", "/v1/subjects", {"subject_id": "N-2", "arm": "a\x00b"}),
        (admin, "POST", "/v1/keys", {"role": "edc", "name": "x\x00y"}),
        (
            client,
            "PUT",
            "/v1/subjects/N-1/lesions",
            {
                "reason": "nul \x00 here",
                "lesions": [
                    {"lesion_id": "T1", "organ": "liver\x00", "lymph_node": False, "role": "target"}
                ],
            },
        ),
    ]
    for c, method, url, body in cases:
        r = c.request(method, url, json=body)
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text)


@pytest.mark.slow
def test_instance_number_past_32_bits_is_stored_unindexed(
    backend_service: Service, ct_series: SeriesFiles
) -> None:
    """An Instance Number outside the range of an IS is no 500: the instance is stored."""
    data = _fresh(ct_series.files[0], "big-number", InstanceNumber="999999999999")
    r = backend_service.client().post("/v1/uploads", files=[("files", ("n.dcm", data))])
    assert r.status_code == 201, r.text
    assert r.json()["stored"] == 1


def _http_exchange(sock: Any, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.1 request on ``sock`` and read exactly one response (Content-Length)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection before answering")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (x.split(":", 1) for x in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection inside a response body")
        body += chunk
    return status, headers, body


def test_unexpected_error_is_one_problem_and_the_connection_stays_usable(service: Service) -> None:
    """An unhandled exception answers a 500 problem with a reference; the next request on the same
    keep-alive connection is answered (no reset)."""
    import json
    import socket
    from urllib.parse import urlsplit

    def broken() -> None:
        raise RuntimeError("PatientName=Doe^Jane must not leak")

    service.server.app.add_api_route("/v1/_test_broken", broken, methods=["GET"])
    host, port = urlsplit(service.url).hostname, urlsplit(service.url).port
    auth = f"Authorization: Bearer {service.keys['radiologist']}\r\n".encode()
    with socket.create_connection((host, port), timeout=30) as sock:
        status, headers, body = _http_exchange(
            sock, b"GET /v1/_test_broken HTTP/1.1\r\nHost: t\r\n" + auth + b"\r\n"
        )
        assert status == 500
        assert headers["content-type"] == "application/problem+json"
        problem = json.loads(body)
        assert re.search(r"reference [0-9a-f]{12}", problem["detail"]), problem
        assert "Doe" not in body.decode() and headers.get("connection") != "close"
        status, _, body = _http_exchange(sock, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert status == 200, body
    with service.client() as client:  # and an httpx client keeps working after a 500
        assert client.get("/v1/_test_broken").status_code == 500
        assert client.get("/healthz").status_code == 200


# --- trial-record mistakes (contracts/trial-record.md, Consistency and corrections) -------------


def _other_patient(series: SeriesFiles, patient_id: str) -> list[tuple[str, tuple[str, bytes]]]:
    """``series`` as a study of another patient (its own UIDs kept)."""
    parts = []
    for path in series.files:
        ds = pydicom.dcmread(path)
        ds.PatientID = patient_id
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        parts.append(("files", (path.name, buf.getvalue())))
    return parts


def _record_rows(svc: Service) -> dict[str, int]:
    from app.db.models import Lesion, LesionMeasurement, Subject, Timepoint

    with svc.server.session_factory() as s:
        return {
            m.__tablename__: int(s.execute(select(func.count()).select_from(m)).scalar_one())
            for m in (Subject, Timepoint, Measurement, Job, Lesion, LesionMeasurement)
        }


def test_trial_record_mistakes_are_4xx_problems_that_store_nothing(
    backend_service: Service, ct_series: SeriesFiles, ct_series_b: SeriesFiles
) -> None:
    """The mistakes of a data manager linking visits (unknown, reused, another patient's or
    misdated study; a series of another study; a lesion table RECIST refuses; a correction
    without a reason), replayed on one keep-alive client: each a 4xx problem naming what is
    wrong, no PatientID in any answer, no row written, and the connection still serves."""
    svc = backend_service
    c = svc.client()
    up = c.post("/v1/uploads", files=[("files", (p.name, p.read_bytes())) for p in ct_series.files])
    assert up.status_code == 201, up.text
    mine = up.json()["studies"][0]
    up = c.post("/v1/uploads", files=_other_patient(ct_series_b, "OTHER-PATIENT-9"))
    assert up.status_code == 201, up.text
    theirs = up.json()["studies"][0]
    other_series = theirs["series"][0]["series_instance_uid"]
    seg = c.post(
        "/v1/segmentations",
        data={"series_instance_uid": other_series},
        files={"file": ("labels.nii.gz", ct_series_b.labels.read_bytes())},
    )
    assert seg.status_code == 201, seg.text
    for sid in ("H-1", "H-2"):
        assert c.post("/v1/subjects", json={"subject_id": sid}).status_code == 201
    base = c.post(
        "/v1/subjects/H-1/timepoints",
        json={"label": "BL", "study_instance_uid": mine["study_instance_uid"], "baseline": True},
    )
    assert base.status_code == 201, base.text
    tp = base.json()["timepoint_id"]
    targets = [
        {"lesion_id": f"T{n}", "organ": "liver", "lymph_node": False, "role": "target"}
        for n in (1, 2, 3)
    ]
    r = c.put("/v1/subjects/H-1/lesions", json={"reason": "read", "lesions": targets[:2]})
    assert r.status_code == 200, r.text
    mistakes: list[tuple[str, str, str, dict[str, Any], int, str]] = [
        ("unknown study", "POST", "/v1/subjects/H-1/timepoints",
         {"label": "FU", "study_instance_uid": "1.2.826.0.1.99999"}, 422, "not stored"),
        ("study of another timepoint", "POST", "/v1/subjects/H-2/timepoints",
         {"label": "BL", "study_instance_uid": mine["study_instance_uid"]}, 409, "already"),
        ("another patient's study", "POST", "/v1/subjects/H-1/timepoints",
         {"label": "FU", "study_instance_uid": theirs["study_instance_uid"]}, 422, "patient"),
        ("misdated visit", "POST", "/v1/subjects/H-2/timepoints",
         {"label": "BL", "study_instance_uid": theirs["study_instance_uid"],
          "date": "2019-02-03"}, 422, "StudyDate"),
        ("series of another study", "POST", "/v1/measurements",
         {"timepoint_id": tp, "series_instance_uid": other_series,
          "segmentation_upload_id": seg.json()["segmentation_upload_id"]}, 422, "not in study"),
        ("three liver targets", "PUT", "/v1/subjects/H-1/lesions",
         {"reason": "read", "lesions": targets}, 422, "RECIST 1.1"),
        ("unknown status", "PUT", f"/v1/subjects/H-1/timepoints/{tp}/lesions",
         {"reason": "read", "measurements": [{"lesion_id": "T1", "status": "gone"}]}, 422, "gone"),
        ("correction without a reason", "PATCH", f"/v1/subjects/H-1/timepoints/{tp}",
         {"date": "2020-01-01"}, 422, "reason"),
        ("void without a reason", "DELETE", "/v1/subjects/H-1", {}, 422, "reason"),
        ("record not of this timepoint", "PUT", f"/v1/subjects/H-1/timepoints/{tp}/record",
         {"measurement_id": "no-such-measurement", "reason": "pick"}, 422, "not a measurement"),
        ("a number for a yes/no", "PUT", "/v1/subjects/H-1/lesions",
         {"reason": "read", "lesions": [{**targets[0], "lymph_node": 0}]}, 422, "boolean"),
        ("a word for a yes/no", "POST", "/v1/subjects/H-1/timepoints",
         {"label": "FU9", "study_instance_uid": mine["study_instance_uid"],
          "baseline": "no"}, 422, "boolean"),
        ("a number for reject", "POST", f"/v1/subjects/H-1/timepoints/{tp}/lesions/confirm",
         {"reason": "cyst", "changes": [{"lesion_id": "T1", "reject": 1}]}, 422, "boolean"),
    ]  # fmt: skip
    before = _record_rows(svc)
    failures = []
    for name, method, url, body, status, needle in mistakes:
        r = c.request(method, url, json=body)
        problem = r.json() if r.headers.get("content-type", "").endswith("json") else {}
        ok = (
            r.status_code == status
            and r.headers["content-type"].startswith("application/problem+json")
            and needle.lower() in str(problem.get("detail", "")).lower()
            and "PHANTOM-001" not in r.text
            and "OTHER-PATIENT" not in r.text
        )
        if not ok:
            failures.append(f"{name}: {r.status_code} {r.text[:300]}")
    assert not failures, "\n".join(failures)
    assert _record_rows(svc) == before
    assert c.get("/v1/subjects/H-1/timepoints").status_code == 200  # the same connection serves
