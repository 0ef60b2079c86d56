"""``liverburden batch`` with the local process pool: row isolation, JSON lines, resumability."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from app.batch.local import BackgroundKeys, ManifestError, ResultsLog, read_manifest
from app.measure.rows import BatchRow, batch_key, measure_row
from tests.conftest import SAMPLE_DICOM

CLI = [sys.executable, "-m", "app.cli", "batch"]


def _manifest(tmp: Path, rows: list[dict[str, str]]) -> Path:
    cols = ["row_id", "subject_id", "timepoint", "series", "labels", "liver_label", "tumor_label"]
    lines = [",".join(cols)] + [",".join(r.get(c, "") for c in cols) for r in rows]
    path = tmp / "manifest.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _good(row_id: str, labels: str = "labels.nii.gz") -> dict[str, str]:
    return {
        "row_id": row_id,
        "subject_id": "S-001",
        "timepoint": "BL",
        "series": str(SAMPLE_DICOM / "ct"),
        "labels": str(SAMPLE_DICOM / labels),
    }


def _bad(row_id: str, tmp: Path) -> dict[str, str]:
    (tmp / "junk").mkdir(exist_ok=True)
    (tmp / "junk" / "x.dcm").write_bytes(b"not dicom" * 20)
    return {
        "row_id": row_id,
        "subject_id": "S-002",
        "timepoint": "BL",
        "series": str(tmp / "junk"),
        "labels": str(SAMPLE_DICOM / "labels.nii.gz"),
    }


def _run(manifest: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, str(manifest), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(ln) for ln in out.read_text().splitlines() if ln.strip()]


def test_bad_row_fails_alone_and_exit_is_1(tmp_path: Path) -> None:
    """A broken row fails with its reason while the others succeed; exit 1 and a summary line."""
    manifest = _manifest(tmp_path, [_good("r1"), _bad("r2", tmp_path), _good("r3", "seg.dcm")])
    out = tmp_path / "results.jsonl"
    proc = _run(manifest, out, "--workers", "2")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "2 succeeded, 1 failed, 0 skipped"
    by_id = {rec["row_id"]: rec for rec in _lines(out)}
    assert by_id["r1"]["status"] == "succeeded"
    assert by_id["r3"]["status"] == "succeeded"
    assert by_id["r2"]["status"] == "failed"
    assert "dicom" in by_id["r2"]["error"].lower()
    truth = json.loads((SAMPLE_DICOM / "truth.json").read_text())
    assert by_id["r1"]["tumor_volume_ml"] == pytest.approx(truth["tumor_volume_ml"], abs=1e-3)
    assert by_id["r1"]["subject_id"] == "S-001"
    assert "Traceback" not in proc.stderr


def test_rerun_skips_rows_already_done(tmp_path: Path) -> None:
    """A second run with identical inputs skips every finished row and recomputes nothing."""
    manifest = _manifest(tmp_path, [_good("r1"), _good("r2", "seg.dcm")])
    out = tmp_path / "results.jsonl"
    assert _run(manifest, out).returncode == 0
    first = _lines(out)
    proc = _run(manifest, out)
    assert proc.returncode == 0
    assert proc.stdout.strip().splitlines()[-1] == "0 succeeded, 0 failed, 2 skipped"
    second = _lines(out)[len(first) :]
    assert {r["status"] for r in second} == {"skipped"}
    assert {r["row_id"]: r["tumor_volume_ml"] for r in second} == {
        r["row_id"]: r["tumor_volume_ml"] for r in first
    }


def test_changed_input_is_not_skipped(tmp_path: Path) -> None:
    """A row whose label choice changed is measured again, not skipped."""
    out = tmp_path / "results.jsonl"
    assert _run(_manifest(tmp_path, [_good("r1")]), out).returncode == 0
    row = _good("r1") | {"tumor_label": "none"}
    proc = _run(_manifest(tmp_path, [row]), out)
    assert proc.returncode == 0
    last = _lines(out)[-1]
    assert last["status"] == "succeeded"
    assert last["tumor_volume_ml"] == 0.0


def test_partial_last_line_from_a_crash_is_tolerated(tmp_path: Path) -> None:
    """A results file cut mid-line by a crash is read; the cut row simply runs again."""
    manifest = _manifest(tmp_path, [_good("r1"), _good("r2", "seg.dcm")])
    out = tmp_path / "results.jsonl"
    assert _run(manifest, out).returncode == 0
    complete = out.read_text().splitlines()
    out.write_text(complete[0] + "\n" + complete[1][: len(complete[1]) // 2])
    proc = _run(manifest, out)
    assert proc.returncode == 0
    assert proc.stdout.strip().splitlines()[-1] == "1 succeeded, 0 failed, 1 skipped"
    recs = []
    for ln in out.read_text().splitlines():
        try:
            recs.append(json.loads(ln))
        except json.JSONDecodeError:
            continue
    assert sorted(r["row_id"] for r in recs if r["status"] != "failed") == ["r1", "r1", "r2"]


def test_ctrl_c_stops_cleanly_and_keeps_whole_lines(tmp_path: Path) -> None:
    """SIGINT mid-batch exits 130 with a message; every written line is complete JSON."""
    rows = [_good(f"r{i}") for i in range(12)]
    manifest = _manifest(tmp_path, rows)
    out = tmp_path / "results.jsonl"
    proc = subprocess.Popen(
        [*CLI, str(manifest), "--out", str(out), "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or not out.read_text().strip()):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    written = _lines(out)
    assert 1 <= len(written) < len(rows)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("row_id,series\nr1,a\n", "labels"),
        ("row_id,series,labels\nr1,a,b\nr1,a,b\n", "duplicate"),
        ("row_id,series,labels\n", "no rows"),
        ("row_id,series,labels\n,a,b\n", "empty row_id"),
        ("row_id,series,labels,other_tumor_label\nr1,a,b,3=\n", "LABEL=ORGAN"),
    ],
    ids=["missing-column", "duplicate-row", "no-rows", "empty-id", "other-label-no-organ"],
)
def test_manifest_errors_are_clear(tmp_path: Path, text: str, needle: str) -> None:
    """An unusable manifest is refused with a message naming the problem."""
    path = tmp_path / "m.csv"
    path.write_text(text)
    with pytest.raises(ManifestError, match=needle):
        read_manifest(path)


def test_bad_manifest_exits_2(tmp_path: Path) -> None:
    """The CLI turns a manifest error into exit 2 and one stderr line."""
    path = tmp_path / "m.csv"
    path.write_text("row_id,series\nr1,a\n")
    proc = _run(path, tmp_path / "o.jsonl")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1


def test_results_log_reads_back_done_keys(tmp_path: Path) -> None:
    """ResultsLog remembers succeeded keys across instances and ignores failed ones."""
    path = tmp_path / "r.jsonl"
    with ResultsLog(path) as log:
        log.append({"row_id": "a", "batch_key": "k1", "status": "succeeded"})
        log.append({"row_id": "b", "batch_key": "k2", "status": "failed", "error": "x"})
    with ResultsLog(path) as log:
        assert set(log.done) == {"k1"}


def _row(row_id: str, labels: str = "labels.nii.gz") -> BatchRow:
    return BatchRow(row_id, "S-001", "BL", SAMPLE_DICOM / "ct", SAMPLE_DICOM / labels, None, ())


def test_measure_row_takes_a_given_key_as_is() -> None:
    """With the key the caller computed, a row's line carries that key and the same numbers."""
    row = _row("r1")
    own = measure_row(row)
    given = measure_row(row, key="0" * 64)
    assert own["batch_key"] == batch_key(row)
    assert given["batch_key"] == "0" * 64
    assert {k: v for k, v in given.items() if k != "batch_key"} == {
        k: v for k, v in own.items() if k != "batch_key"
    }
    assert measure_row(row, frozenset({"0" * 64}), key="0" * 64)["status"] == "skipped"


def test_background_keys_match_batch_key_in_row_order(tmp_path: Path) -> None:
    """Keys hashed by the helper processes equal batch_key's, in row order (None if unreadable)."""
    rows = [_row("a"), _row("b", "seg.dcm"), _row("c", "no-such-file.nii.gz"), _row("d")]
    keys = BackgroundKeys(rows, processes=2)
    try:
        assert list(keys) == [batch_key(r) for r in rows]
    finally:
        keys.close()
    assert batch_key(rows[2]) is None
    assert batch_key(rows[0]) == batch_key(rows[3]) != batch_key(rows[1])


def test_other_tumour_labels_column_reaches_the_measurement(tmp_path: Path) -> None:
    """``other_tumor_label`` (``L=ORGAN|L2``) is parsed into the row and changes its key only
    when given (rows of earlier manifests keep theirs)."""
    path = tmp_path / "m.csv"
    sample = SAMPLE_DICOM
    path.write_text(
        "row_id,series,labels,other_tumor_label\n"
        f"r1,{sample / 'ct'},{sample / 'labels.nii.gz'},3=adrenal|4\n"
        f"r2,{sample / 'ct'},{sample / 'labels.nii.gz'},\n"
    )
    r1, r2 = read_manifest(path)
    assert r1.other_tumor_labels == (("3", "adrenal"), ("4", None))
    assert r2.other_tumor_labels == ()
    assert batch_key(r1) != batch_key(r2)
    plain = BatchRow(r2.row_id, "", "", r2.series, r2.labels, None, ())
    assert batch_key(r2) == batch_key(plain)  # a row without the column keeps its key
