"""Faults: ``liverburden serve`` killed with SIGKILL during uploads and jobs, 20 rounds.

Each round starts the real server on the same home, drives it from four client threads (single
instances over REST, a zip over REST, STOW-RS, label maps and measurement jobs), and kills it at a
seeded random moment (every fourth round right after a job was acknowledged, so unfinished jobs are
left behind). Between rounds, with no server running, the home folder is inspected directly:

- SQLite's ``PRAGMA integrity_check`` is ``ok`` and ``foreign_key_check`` finds nothing;
- every instance the client got a 2xx for has its row, and its blob hashes to the sent bytes;
- no row points at a missing or torn blob, and no blob under a real name is torn;
- every acknowledged job has its row; the audit hash chain verifies.

Each start must first finish the jobs the previous kill left queued or running (the local engine
requeues jobs whose worker died), and after the last round one more start must leave every
acknowledged job succeeded.

The second test fills the blob folder's file system for real (a small tmpfs, or the server under
RLIMIT_FSIZE where ``mount`` is not permitted): a clean 507 problem and no partial rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import resource
import sqlite3
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from app.auth import audit
from app.db import dispose_engine, get_engine, make_session_factory, session_scope
from app.settings import Settings
from tests.app._http_steps import new_subject_with_baseline, upload_series
from tests.app._serve_proc import ServeForker, ServeProcess, prepare_home, start_serve
from tests.app.conftest import SeriesFiles

SEED = 20_240_607
ROUNDS = 20
#: A killed worker's jobs are requeued at the next start; stale ones (same pid reused) after 5 s.
SERVER_ENV = {"LIVERBURDEN_WORKERS": "2", "LIVERBURDEN_JOB_STALE_S": "5"}


def _variant(files: tuple[Path, ...], tag: str) -> list[tuple[str, bytes]]:
    """The series with new study, series and instance UIDs (deterministic per ``tag``)."""
    study = generate_uid(entropy_srcs=[str(SEED), tag, "study"])
    series = generate_uid(entropy_srcs=[str(SEED), tag, "series"])
    out: list[tuple[str, bytes]] = []
    for n, path in enumerate(files):
        ds = pydicom.dcmread(path)
        sop = generate_uid(entropy_srcs=[str(SEED), tag, str(n)])
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study, series, sop
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append((sop, buf.getvalue()))
    return out


def _zip(instances: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, (_, data) in enumerate(instances):
            zf.writestr(f"series/{n:03d}.dcm", data)
    return buf.getvalue()


def _stow_body(instances: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "fault-test-boundary"
    body = b"".join(
        b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n"
        for _, data in instances
    )
    return body + b"--" + boundary.encode() + b"--\r\n", boundary


@dataclass
class Acked:
    """What the clients were told is stored."""

    instances: dict[str, str] = field(default_factory=dict)  # SOP Instance UID -> sha256
    jobs: set[str] = field(default_factory=set)
    segmentations: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_instances(self, items: list[tuple[str, bytes]]) -> None:
        with self.lock:
            for uid, data in items:
                self.instances[uid] = hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Fixed:
    """The stored series every round measures, and how to ask for it."""

    series_uid: str
    timepoint_id: str
    labels: bytes


def _client(server: ServeProcess, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10)


def _drive(
    server: ServeProcess,
    key: str,
    fixed: Fixed,
    batches: dict[str, list[tuple[str, bytes]]],
    acked: Acked,
    stop: threading.Event,
    job_acked: threading.Event,
) -> list[threading.Thread]:
    """Start the client threads of one round."""

    def singles() -> None:
        with _client(server, key) as c:
            for uid, data in batches["single"]:
                if stop.is_set():
                    return
                r = c.post("/v1/uploads", files=[("files", (f"{uid}.dcm", data))])
                if r.status_code == 201:
                    acked.add_instances([(uid, data)])

    def zipped_and_stowed() -> None:
        with _client(server, key) as c:
            r = c.post("/v1/uploads", files=[("files", ("s.zip", _zip(batches["zip"])))])
            if r.status_code == 201:
                acked.add_instances(batches["zip"])
            body, boundary = _stow_body(batches["stow"])
            ctype = f'multipart/related; type="application/dicom"; boundary={boundary}'
            r = c.post("/dicomweb/studies", content=body, headers={"Content-Type": ctype})
            if r.status_code == 200:
                acked.add_instances(batches["stow"])

    def jobs() -> None:
        with _client(server, key) as c:
            while not stop.is_set():
                seg = c.post(
                    "/v1/segmentations",
                    files={"file": ("labels.nii.gz", fixed.labels)},
                    data={"series_instance_uid": fixed.series_uid},
                )
                if seg.status_code != 201:
                    return
                seg_id = seg.json()["segmentation_upload_id"]
                with acked.lock:
                    acked.segmentations.add(seg_id)
                r = c.post(
                    "/v1/measurements",
                    json={
                        "timepoint_id": fixed.timepoint_id,
                        "series_instance_uid": fixed.series_uid,
                        "segmentation_upload_id": seg_id,
                        "force": True,
                    },
                )
                if r.status_code != 202:
                    return
                with acked.lock:
                    acked.jobs.add(r.json()["job_id"])
                job_acked.set()
                time.sleep(0.05)

    def guarded(target: Any) -> Any:
        def run() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server died under this request
                target()

        return run

    threads = [threading.Thread(target=guarded(t)) for t in (singles, zipped_and_stowed, jobs)]
    for t in threads:
        t.start()
    return threads


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inspect(home: Path, acked: Acked, verified: set[str]) -> dict[str, str]:
    """Check the stopped server's state; return the status of every acknowledged job."""
    settings = Settings(home=home)
    blobs = settings.blob_dir
    conn = sqlite3.connect(home / "liverburden.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        rows = {
            uid: (sha, rel)
            for uid, sha, rel in conn.execute(
                "SELECT sop_instance_uid, sha256, blob_path FROM instances"
            )
        }
        segs = {
            sid: (sha, rel)
            for sid, sha, rel in conn.execute("SELECT id, sha256, blob_path FROM segmentations")
        }
        jobs = dict(conn.execute("SELECT id, status FROM jobs").fetchall())
        done = dict(conn.execute("SELECT job_id, id FROM measurements").fetchall())
    finally:
        conn.close()
    for sha, rel in [*rows.values(), *segs.values()]:  # no row without its (whole) blob
        if sha not in verified:
            assert (blobs / rel).is_file(), f"row points at a missing blob {rel}"
            assert _sha(blobs / rel) == sha, f"blob {rel} does not hash to its row"
            verified.add(sha)
    for uid, sha in acked.instances.items():  # nothing acknowledged is lost
        assert uid in rows, f"acknowledged instance {uid} has no row"
        assert rows[uid][0] == sha, f"instance {uid} is stored with other bytes"
    assert acked.segmentations <= set(segs), "an acknowledged label map has no row"
    assert acked.jobs <= set(jobs), "an acknowledged job has no row"
    for job_id, status in jobs.items():  # a job succeeded exactly when its measurement exists
        assert (status == "succeeded") == (job_id in done), (job_id, status)
    for path in blobs.glob("[0-9a-f][0-9a-f]/*"):  # a real name is never a torn file
        if not path.name.startswith(".tmp-"):
            name = path.parent.name + path.name
            if name not in verified:
                assert _sha(path) == name, f"torn blob under a real name: {path.name}"
                verified.add(name)
    url = settings.resolved_database_url
    with session_scope(make_session_factory(get_engine(url))) as s:
        report = audit.verify(s)
    dispose_engine(url)
    assert report.ok, report.problems
    return {j: jobs[j] for j in acked.jobs}


def _setup(server: ServeProcess, key: str, ct_series: SeriesFiles) -> Fixed:
    with _client(server, key) as c:
        stored = upload_series(c, ct_series.files)
        tp = new_subject_with_baseline(c, "F-001", stored.study_uid, "2024-02-01")
    return Fixed(stored.series_uid, tp, ct_series.labels.read_bytes())


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh LIVERBURDEN_HOME."""
    return tmp_path / "home"


@pytest.mark.slow
def test_sigkill_rounds_lose_nothing_acknowledged(
    home: Path, tmp_path: Path, ct_series: SeriesFiles
) -> None:
    """20 SIGKILLs (more on a loaded machine) mid-upload and mid-job: nothing acknowledged is
    lost, the database stays sound, and every acknowledged job succeeds after the restarts."""
    key = prepare_home(home)["radiologist"]
    log = tmp_path / "serve.log"
    acked = Acked()
    forker = ServeForker(home, SERVER_ENV, log)
    try:
        _rounds(forker, home, key, ct_series, acked)
    finally:
        forker.close()


def _wait_succeeded(server: ServeProcess, key: str, jobs: set[str], timeout_s: float) -> None:
    """Every job of ``jobs`` succeeds within ``timeout_s`` (polled over HTTP)."""
    deadline = time.monotonic() + timeout_s
    with _client(server, key) as c:
        for job_id in sorted(jobs):
            while True:
                body = c.get(f"/v1/jobs/{job_id}").json()
                if body["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            assert body["status"] == "succeeded", body


def _rounds(
    forker: ServeForker, home: Path, key: str, ct_series: SeriesFiles, acked: Acked
) -> None:
    rng = random.Random(SEED)
    verified: set[str] = set()
    recovered: set[str] = set()
    unfinished: set[str] = set()
    server = forker.serve()
    try:
        fixed = _setup(server, key, ct_series)
    finally:
        server.kill()
    # At least ROUNDS kills; more (up to three times as many) while a loaded machine has not yet
    # acknowledged enough work for the test to mean something (the delays are wall-clock).
    for round_no in range(3 * ROUNDS):
        enough = len(acked.instances) > 50 and len(acked.jobs) > 10 and recovered
        if round_no >= ROUNDS and enough:
            break
        batches = {
            kind: _variant(ct_series.files, f"{round_no}-{kind}")
            for kind in ("single", "zip", "stow")
        }
        delay = rng.uniform(0.05, 1.0)
        server = forker.serve()
        stop, job_acked = threading.Event(), threading.Event()
        threads: list[threading.Thread] = []
        try:
            # The jobs the last kill interrupted are requeued by this start and complete.
            _wait_succeeded(server, key, unfinished, timeout_s=30)
            recovered |= unfinished
            threads = _drive(server, key, fixed, batches, acked, stop, job_acked)
            if round_no % 4 == 0:  # right after a job is acknowledged: it cannot have finished
                job_acked.wait(timeout=5)
            else:
                time.sleep(delay)
        finally:
            server.kill()
            stop.set()
            for t in threads:
                t.join(timeout=30)
        statuses = _inspect(home, acked, verified)
        unfinished = {j for j, s in statuses.items() if s in ("queued", "running")}
    assert len(acked.instances) > 50 and len(acked.jobs) > 10, "the rounds did too little"
    assert recovered, "no job was left queued or running by a kill"

    server = forker.serve()
    try:
        _wait_succeeded(server, key, acked.jobs, timeout_s=60)
    finally:
        server.stop()
    statuses = _inspect(home, acked, verified)
    assert set(statuses.values()) == {"succeeded"}


# --- a full blob folder ------------------------------------------------------------------------

#: Headroom left on the small file system (tmpfs) and the file size limit (rlimit): small
#: instances fit, the big one does not.
TMPFS_FREE = 96 << 10
FSIZE_LIMIT = 640 << 10
A700_OUT_OF_RESOURCES = 0xA700


@dataclass
class FullDisk:
    """A running server whose blob folder cannot take the big instance, and how to make room."""

    server: ServeProcess
    key: str
    home: Path
    make_room: Any


def _mount_small_tmpfs(blobs: Path) -> None:
    blobs.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(blobs)],
        check=True,
        capture_output=True,
        timeout=30,
    )


@pytest.fixture(params=["tmpfs", "rlimit"])
def full_disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FullDisk]:
    """The blob folder on a nearly full 2 MiB tmpfs, or the server under RLIMIT_FSIZE (EFBIG).

    Both are real OS-level failures of ``write``: ENOSPC from a full file system, EFBIG from the
    file size limit (the variant for machines where ``mount`` is not permitted).
    """
    home = tmp_path / "home"
    key = prepare_home(home)["radiologist"]
    blobs = Settings(home=home).blob_dir
    if request.param == "tmpfs":
        try:
            _mount_small_tmpfs(blobs)
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.skip(f"cannot mount a tmpfs here ({type(exc).__name__}); rlimit covers it")
        request.addfinalizer(lambda: _umount(blobs))
        filler = blobs / "filler"
        room = os.statvfs(blobs)
        filler.write_bytes(b"\0" * (room.f_bavail * room.f_frsize - TMPFS_FREE))
        server = start_serve(home)
        yield FullDisk(server, key, home, filler.unlink)
    else:
        soft_hard = resource.getrlimit(resource.RLIMIT_FSIZE)

        def limit() -> None:  # soft limit only: the test may lift it again
            resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, soft_hard[1]))

        server = start_serve(home, preexec_fn=limit, log=tmp_path / "serve.log")

        def lift() -> None:
            resource.prlimit(server.pid, resource.RLIMIT_FSIZE, soft_hard)

        yield FullDisk(server, key, home, lift)
    server.stop()


def _umount(path: Path) -> None:
    done = subprocess.run(["umount", str(path)], capture_output=True, timeout=30, check=False)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30, check=False)


def _big_instance(template: Path, tag: str, side: int = 640) -> tuple[str, bytes]:
    """A valid CT instance of ``side`` x ``side`` random (incompressible) pixels."""
    ds = pydicom.dcmread(template)
    dtype = ds.pixel_array.dtype
    sop = generate_uid(entropy_srcs=[str(SEED), "big", tag])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[str(SEED), "big-series", tag])
    ds.Rows = ds.Columns = side
    pixels = np.random.default_rng(SEED).integers(-1000, 1000, (side, side), dtype=np.int16)
    ds.PixelData = pixels.astype(dtype).tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return sop, buf.getvalue()


def _rows(home: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(home / "liverburden.db")) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("studies", "series", "instances", "segmentations", "audit_events")
        }


def _blob_names(home: Path) -> set[str]:
    """Every file in the blob folder but the filler (temporary files included)."""
    blobs = Settings(home=home).blob_dir
    return {str(p.relative_to(blobs)) for p in blobs.rglob("*") if p.is_file()} - {"filler"}


def _assert_507(r: httpx.Response) -> None:
    assert r.status_code == 507, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"].endswith("insufficient-storage") and problem["status"] == 507
    assert "/" not in problem["detail"], "no path in the message"


def _all_rows_whole(home: Path) -> None:
    blobs = Settings(home=home).blob_dir
    with contextlib.closing(sqlite3.connect(home / "liverburden.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for table in ("instances", "segmentations"):
            for sha, rel in conn.execute(f"SELECT sha256, blob_path FROM {table}"):
                assert _sha(blobs / rel) == sha


@pytest.mark.slow
def test_full_blob_folder_is_507_and_stores_nothing_partial(
    full_disk: FullDisk, ct_series: SeriesFiles
) -> None:
    """REST uploads, zips and label maps that do not fit get a clean 507 problem, STOW-RS the
    A700 'out of resources' reason; no row without its whole blob, no temporary file left, and
    the same requests succeed once there is room."""
    home = full_disk.home
    big_uid, big = _big_instance(ct_series.files[0], "rest")
    small = _variant(ct_series.files[:1], "fits")
    with _client(full_disk.server, full_disk.key) as c:
        rows, names = _rows(home), _blob_names(home)
        _assert_507(c.post("/v1/uploads", files=[("files", ("big.dcm", big))]))
        assert (_rows(home), _blob_names(home)) == (rows, names)

        archive = _zip([*small, (big_uid, big)])  # the small member fits, the big one does not
        _assert_507(c.post("/v1/uploads", files=[("files", ("both.zip", archive))]))
        after = _rows(home)
        assert after["instances"] == rows["instances"] + 1  # the small member, whole
        assert not any(n.rsplit("/", 1)[-1].startswith(".tmp-") for n in _blob_names(home))

        rows, names = _rows(home), _blob_names(home)
        labels = b"\x1f\x8b" + big[2:]  # gzip magic; the content is never parsed at upload
        series_uid = str(pydicom.dcmread(io.BytesIO(small[0][1])).SeriesInstanceUID)
        seg = c.post(
            "/v1/segmentations",
            files={"file": ("labels.nii.gz", labels)},
            data={"series_instance_uid": series_uid},
        )
        _assert_507(seg)
        body, boundary = _stow_body([(big_uid, big)])
        ctype = f'multipart/related; type="application/dicom"; boundary={boundary}'
        stow = c.post("/dicomweb/studies", content=body, headers={"Content-Type": ctype})
        if stow.status_code == 409:  # the part reached the blob store: DICOM's own answer
            failed = stow.json()["00081198"]["Value"][0]["00081197"]["Value"][0]
            assert failed == A700_OUT_OF_RESOURCES
        else:  # the part could not even be spooled (file size limit): the service's 507
            _assert_507(stow)
        assert (_rows(home), _blob_names(home)) == (rows, names)
        _all_rows_whole(home)

        full_disk.make_room()
        again = c.post("/v1/uploads", files=[("files", ("big.dcm", big))])
        assert again.status_code == 201, again.text
        assert again.json()["stored"] == 1
    _all_rows_whole(home)
