"""Security: keys never logged or stored in clear, key checks before bodies and in constant time,
no file written outside the home folder whatever the names say, and the audit chain verified by
``liverburden audit verify`` after a full flow (and broken by tampering).

The route x role matrix itself is tests/app/auth/test_roles.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import shutil
import socket
import sqlite3
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth import keys as security
from app.db.session import session_scope
from app.errors import AuthenticationError
from tests.app._cli import liverburden
from tests.app._http_steps import measure, new_subject_with_baseline, upload_labels, upload_series
from tests.app._serve_proc import REPO, prepare_home, start_serve
from tests.app.conftest import SeriesFiles, Service

# --- a full flow against `liverburden serve`, logging at DEBUG ----------------------------------


@dataclass(frozen=True)
class Flow:
    """The home folder and log of a server that ran a full flow, and every key it saw."""

    home: Path
    log: str
    keys: dict[str, str]  # what -> raw key (valid, created over HTTP, revoked, wrong)


def _wrong(key: str) -> str:
    """The same key with its last secret character changed (same length, same key id)."""
    return key[:-1] + ("A" if key[-1] != "A" else "B")


def _full_flow(url: str, keys: dict[str, str], ct_series: SeriesFiles) -> dict[str, str]:
    """Upload, subject, timepoint, label map, job, lesions, assessment, key create/revoke."""

    def client(key: str) -> httpx.Client:
        return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    with client(keys["radiologist"]) as rad, client(keys["admin"]) as adm:
        stored = upload_series(rad, ct_series.files)
        tp = new_subject_with_baseline(rad, "SEC-1", stored.study_uid, "2024-03-01")
        seg = upload_labels(rad, stored.series_uid, ct_series.labels)
        measure(rad, tp, stored.series_uid, seg)
        lesions = {
            "reason": "baseline read",
            "lesions": [
                {"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"}
            ],
        }
        assert rad.put("/v1/subjects/SEC-1/lesions", json=lesions).status_code == 200
        reading = {
            "reason": "baseline read",
            "measurements": [{"lesion_id": "T1", "diameter_mm": 31.0}],
        }
        assert (
            rad.put(f"/v1/subjects/SEC-1/timepoints/{tp}/lesions", json=reading).status_code == 200
        )
        assert rad.get("/v1/subjects/SEC-1/assessment").status_code == 200
        created = adm.post("/v1/keys", json={"role": "edc", "name": "EDC export"}).json()
        with client(created["key"]) as edc:
            assert edc.get("/v1/subjects/SEC-1/eligibility").status_code == 200
        assert adm.delete(f"/v1/keys/{created['key_id']}").status_code == 200
        with client(created["key"]) as revoked:
            assert revoked.get("/v1/subjects/SEC-1/eligibility").status_code == 401
        with client(_wrong(keys["radiologist"])) as wrong:
            assert wrong.get("/v1/subjects").status_code == 401
        assert adm.get("/v1/audit/events", params={"limit": 1000}).status_code == 200
    return {"created": created["key"], "wrong": _wrong(keys["radiologist"])}


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory, ct_series: SeriesFiles) -> Flow:
    """A full flow through a real ``liverburden serve`` logging at DEBUG; the server stopped."""
    base = tmp_path_factory.mktemp("security")
    home, log = base / "home", base / "serve.log"
    keys = prepare_home(home, ("radiologist", "admin"))
    server = start_serve(home, env={"LIVERBURDEN_LOG_LEVEL": "DEBUG"}, log=log)
    try:
        keys.update(_full_flow(server.url, keys, ct_series))
    finally:
        server.stop()
    return Flow(home, log.read_text(errors="replace"), keys)


def _secrets(keys: dict[str, str]) -> Iterator[tuple[str, str]]:
    for what, key in keys.items():
        yield what, key
        yield f"{what} secret", key.split("_", 2)[2]  # lbk_<key id>_<secret: may hold "_">


@pytest.mark.slow
def test_keys_never_reach_the_log(flow: Flow) -> None:
    """No key -- valid, created over HTTP, revoked or wrong -- nor its secret part is logged."""
    assert "POST /v1/uploads" in flow.log and "DEBUG" in flow.log, "the log captured the flow"
    leaked = [what for what, secret in _secrets(flow.keys) if secret in flow.log]
    assert not leaked, f"in the server log: {leaked}"


@pytest.mark.slow
def test_keys_are_stored_only_as_hashes(flow: Flow) -> None:
    """Neither the audit table nor any byte under the home folder holds a key; hashes are there."""
    with contextlib.closing(sqlite3.connect(flow.home / "liverburden.db")) as conn:
        audit_text = json.dumps(conn.execute("SELECT * FROM audit_events").fetchall())
        stored_hashes = {h for (h,) in conn.execute("SELECT key_hash FROM api_keys")}
    assert audit_text.count("key.created") >= 3 and "key.revoked" in audit_text
    files = [p for p in flow.home.rglob("*") if p.is_file()]
    for what, secret in _secrets(flow.keys):
        assert secret not in audit_text, f"{what} in the audit trail"
        needle = secret.encode()
        assert not any(needle in p.read_bytes() for p in files), f"{what} in a stored file"
    for what in ("radiologist", "admin", "created"):
        assert security.hash_key(flow.keys[what]) in stored_hashes


@pytest.mark.slow
@pytest.mark.parametrize(
    ("statement", "needle"),
    [
        ("DELETE FROM audit_events WHERE seq = (SELECT max(seq) / 2 FROM audit_events)", "seq"),
        (
            "UPDATE audit_events SET details = '{}' WHERE action = 'measurement.created'",
            "content",
        ),
        ("UPDATE audit_events SET actor = 'admin:forged' WHERE action = 'key.revoked'", "content"),
    ],
    ids=["delete-an-event", "edit-a-measurement-event", "edit-a-key-event"],
)
def test_audit_verify_after_a_full_flow(
    flow: Flow, tmp_path: Path, statement: str, needle: str
) -> None:
    """``liverburden audit verify`` exits 0 on the untouched trail of a full flow, 1 once an
    event is deleted or edited behind its back."""
    home = tmp_path / "home"
    shutil.copytree(flow.home, home)
    ok = liverburden(home, "audit", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "intact" in ok.stdout
    with contextlib.closing(sqlite3.connect(home / "liverburden.db")) as conn, conn:
        assert conn.execute(statement).rowcount >= 1
    broken = liverburden(home, "audit", "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "BROKEN" in broken.stdout and needle in broken.stdout


# --- key comparison ----------------------------------------------------------------------------


def _variants(key: str) -> dict[str, str]:
    prefix, key_id, secret = key.split("_", 2)
    other_id = f"{int(key_id, 16) ^ 1:012x}"
    return {
        "wrong-last-char": _wrong(key),
        "wrong-first-char": f"{prefix}_{key_id}_{'A' if secret[0] != 'A' else 'B'}{secret[1:]}",
        "unknown-key-id": f"{prefix}_{other_id}_{secret}",
        "truncated": key[:-1],
        "extended": key + "A",
        "other-prefix": f"lbx_{key_id}_{secret}",
        "upper-case": key.upper(),
    }


def test_wrong_keys_of_every_shape_are_401(service: Service) -> None:
    """A key wrong in its secret, its id, its length or its prefix is 401; the right-length
    wrong keys get the same answer whether or not the key id exists."""
    key = service.keys["radiologist"]
    client = service.client(None)
    details = {}
    for name, variant in _variants(key).items():
        r = client.get("/v1/subjects", headers={"Authorization": f"Bearer {variant}"})
        assert r.status_code == 401, name
        assert r.headers["content-type"].startswith("application/problem+json"), name
        details[name] = r.json()["detail"]
    assert details["wrong-last-char"] == details["wrong-first-char"] == details["unknown-key-id"]


def test_key_digests_are_compared_in_constant_time(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every lookup -- right key, wrong secret, unknown key id -- goes through
    hmac.compare_digest on fixed-length digests (a spy that calls the real function)."""
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((len(a), len(b)))
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)  # app.auth.keys calls hmac.compare_digest
    key = service.keys["radiologist"]
    factory = service.server.session_factory
    for name, candidate in [("right", key), *list(_variants(key).items())[:3]]:
        calls.clear()
        with session_scope(factory) as s:
            if name == "right":
                assert security.authenticate(s, f"Bearer {candidate}").role == "radiologist"
            else:
                with pytest.raises(AuthenticationError):
                    security.authenticate(s, f"Bearer {candidate}")
        assert calls == [(64, 64)], (name, calls)


# --- the key is checked before the body is read ----------------------------------------------


def _raw_request(url: str, head: str, body_start: bytes, timeout_s: float = 10) -> str:
    """Send a request line, headers and the start of a much longer body; return the status line.

    The declared Content-Length is never reached: a server that read the body before checking the
    key would wait for the rest and time out instead of answering.
    """
    host, port = httpx.URL(url).host, httpx.URL(url).port
    assert port is not None
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n" + body_start)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0].decode("latin-1")


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("POST", "/v1/segmentations", "multipart/form-data; boundary=xyz"),
        ("POST", "/v1/subjects", "application/json"),
        ("PUT", "/v1/subjects/S-1/lesions", "application/json"),
        ("POST", "/v1/uploads", "multipart/form-data; boundary=xyz"),
        ("POST", "/dicomweb/studies", 'multipart/related; type="application/dicom"; boundary=xyz'),
    ],
    ids=["segmentations", "subjects", "lesions", "uploads", "stow"],
)
@pytest.mark.parametrize("who", ["no-key", "bad-key", "edc"])
def test_keys_and_roles_are_checked_before_the_body_is_read(
    service: Service, method: str, path: str, content_type: str, who: str
) -> None:
    """Without a valid key (401), or with a role that may not (403), the answer comes at once,
    before the (50 MB, never sent) body: nothing is parsed or spooled for such callers."""
    auth = {
        "no-key": "",
        "bad-key": f"Authorization: Bearer {_wrong(service.keys['radiologist'])}\r\n",
        "edc": f"Authorization: Bearer {service.keys['edc']}\r\n",
    }[who]
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {50 << 20}\r\n{auth}"
    )
    status = _raw_request(service.url, head, b"--xyz\r\n" + b"\x00" * 1000)
    assert status.split(" ")[1] == ("403" if who == "edc" else "401"), status


def test_garbage_bodies_without_a_key_are_401(service: Service) -> None:
    """Undecodable JSON without a key is 401 (not 400/422); with an EDC key 403."""
    body, headers = b"\xff\xfe{not json", {"Content-Type": "application/json"}
    for role, expected in ((None, {401}), ("edc", {403}), ("radiologist", {400, 422})):
        r = service.client(role).post("/v1/subjects", content=body, headers=headers)
        assert r.status_code in expected, (role, r.status_code)


# --- nothing is written outside the home folder ---------------------------------------------


def _zip(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16) | 0x20
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def _snapshot(root: Path, skip: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and skip not in p.parents
    }


def test_names_never_place_files_outside_the_blob_folder(
    service: Service, ct_series: SeriesFiles, tmp_path: Path
) -> None:
    """Zip slip names, absolute names, symlinks, and ``../`` file names on REST uploads, label
    maps and STOW parts: refused or stored by content hash only; no file appears outside the
    home folder and no stored file is named after what the client sent."""
    home = service.settings.resolved_home
    token = f"evil{uuid.uuid4().hex[:8]}"
    dcm = ct_series.files[0].read_bytes()
    outside_before = _snapshot(tmp_path, home)
    client = service.client()
    slips = {
        "dotdot": _zip({f"../../{token}.dcm": dcm}),
        "absolute": _zip({f"/tmp/{token}.dcm": dcm}),
        "backslash": _zip({f"..\\..\\{token}.dcm": dcm}),
        "drive": _zip({f"C:\\{token}.dcm": dcm}),
        "symlink": _zip({"ok.dcm": dcm}, symlink=f"{token}.dcm"),
    }
    for name, archive in slips.items():
        r = client.post("/v1/uploads", files=[("files", (f"{name}.zip", archive))])
        assert r.status_code == 400, (name, r.text)
        assert r.json()["type"].endswith("unsafe-archive"), name
    r = client.post("/v1/uploads", files=[("files", (f"../../{token}.dcm", dcm))])
    assert r.status_code == 201, r.text
    series_uid = r.json()["studies"][0]["series"][0]["series_instance_uid"]
    # The rest of the series, so that its label map fits the stored series at upload.
    rest = [("files", (p.name, p.read_bytes())) for p in ct_series.files[1:]]
    assert client.post("/v1/uploads", files=rest).status_code == 201
    r = client.post(
        "/v1/segmentations",
        files={"file": (f"../../{token}.nii.gz", ct_series.labels.read_bytes())},
        data={"series_instance_uid": series_uid},
    )
    assert r.status_code == 201, r.text
    part = (
        (
            f'--b\r\nContent-Type: application/dicom\r\nContent-Disposition: attachment; filename="'
            f'../../{token}.dcm"\r\nContent-Location: file:///tmp/{token}.dcm\r\n\r\n'
        ).encode()
        + ct_series.files[1].read_bytes()
        + b"\r\n--b--\r\n"
    )
    r = client.post(
        "/dicomweb/studies",
        content=part,
        headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=b'},
    )
    assert r.status_code == 200, r.text

    assert _snapshot(tmp_path, home) == outside_before, "a file appeared outside the home folder"
    for place in (tmp_path, Path(tempfile.gettempdir()), REPO, home.parent.parent):
        assert not list(place.glob(f"*{token}*")), place
    assert not [p for p in home.rglob("*") if token in p.name]
    blobs = service.settings.blob_dir
    for p in blobs.rglob("*"):
        if p.is_file() and not p.name.startswith(".tmp-"):
            assert len(p.parent.name + p.name) == 64, p.relative_to(blobs)
            assert hashlib.sha256(p.read_bytes()).hexdigest() == p.parent.name + p.name
