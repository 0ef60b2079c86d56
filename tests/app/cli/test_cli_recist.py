"""``liverburden recist assess``: contract JSON on stdout; bad input exits 2, one stderr line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CLI = [sys.executable, "-m", "app.cli", "recist", "assess"]

SUBJECT: dict[str, Any] = {
    "subject_id": "S-001",
    "reference_date": "2020-01-01",
    "options": {"confirmation_required": False, "confirmation_min_days": 28,
                "sd_min_days": 42, "continued_pr": True},
    "lesions": [
        {"lesion_id": "T1", "organ": "liver", "lymph_node": False, "role": "target"},
        {"lesion_id": "N1", "organ": "lymph node", "lymph_node": True, "role": "target"},
        {"lesion_id": "NT1", "organ": "liver", "lymph_node": False, "role": "non_target"},
    ],
    "timepoints": [
        {"date": "2020-01-01", "baseline": True,
         "measurements": [{"lesion_id": "T1", "diameter_mm": 21.0},
                          {"lesion_id": "N1", "diameter_mm": 17.0},
                          {"lesion_id": "NT1", "status": "present"}],
         "new_lesions": []},
        {"date": "2020-03-01",
         "measurements": [{"lesion_id": "T1", "status": "too_small"},
                          {"lesion_id": "N1", "diameter_mm": 8.0},
                          {"lesion_id": "NT1", "status": "absent"}],
         "new_lesions": [{"organ": "liver", "equivocal": False}]},
    ],
}  # fmt: skip


def _run(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def _check_result(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    result = json.loads(proc.stdout)
    assert proc.stdout.startswith('{\n  "subject_id": "S-001"')  # indent 2
    assert [tp["overall_response"] for tp in result["timepoints"]] == [None, "PD"]
    assert result["timepoints"][1]["sum_mm"] == 13.0
    assert result["hepatic_progression"] == {"progressed": True, "date": "2020-03-01"}


def test_assess_file(tmp_path: Path) -> None:
    """Contract recist-assess.md: FILE.json gives the output JSON on stdout, exit status 0."""
    path = tmp_path / "subject.json"
    path.write_text(json.dumps(SUBJECT), encoding="utf-8")
    _check_result(_run([str(path)]))


def test_assess_stdin() -> None:
    """Contract recist-assess.md: FILE may be ``-`` to read the input from standard input."""
    _check_result(_run(["-"], stdin=json.dumps(SUBJECT)))


def _six_targets() -> str:
    data = json.loads(json.dumps(SUBJECT))
    for number in range(2, 6):  # T1 and N1 are targets already: six in all
        lesion_id = f"T{number}"
        data["lesions"].append(
            {"lesion_id": lesion_id, "organ": f"organ {number}", "lymph_node": False,
             "role": "target"}
        )  # fmt: skip
        data["timepoints"][0]["measurements"].append({"lesion_id": lesion_id, "diameter_mm": 20})
    return json.dumps(data)


def _dates_out_of_order() -> str:
    data = json.loads(json.dumps(SUBJECT))
    data["timepoints"][1]["date"] = "2019-12-01"
    return json.dumps(data)


# Each case writes the input (or not) under tmp_path and returns the FILE argument and stdin.
Case = Callable[[Path], tuple[str, str]]


def _file(text: str) -> Case:
    def make(tmp: Path) -> tuple[str, str]:
        path = tmp / "in.json"
        path.write_text(text, encoding="utf-8")
        return str(path), ""

    return make


def _binary(tmp: Path) -> tuple[str, str]:
    path = tmp / "binary.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    return str(path), ""


CASES: list[tuple[str, Case, tuple[str, ...]]] = [
    ("missing-file", lambda tmp: (str(tmp / "nope.json"), ""), ("cannot read", "nope.json")),
    ("directory", lambda tmp: (str(tmp), ""), ("cannot read", "directory")),
    ("not-json", _file("{not json"), ("not valid json", "line 1")),
    ("empty-stdin", lambda tmp: ("-", ""), ("standard input", "not valid json")),
    ("array", _file("[]"), ("invalid recist input", "expected a json object")),
    (
        "six-targets",
        _file(_six_targets()),
        ("lesion 't5': more than 5 target lesions at baseline (got 6)",),
    ),
    ("dates-out-of-order", _file(_dates_out_of_order()), ("2019-12-01", "dates out of order")),
    ("not-utf8", _binary, ("cannot read",)),
]


@pytest.mark.parametrize(("make", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_input_exits_2_with_one_line(
    tmp_path: Path, make: Case, needles: tuple[str, ...]
) -> None:
    """Contract recist-assess.md: invalid input exits 2 with one clear stderr line, no traceback."""
    file, stdin = make(tmp_path)
    proc = _run([file], stdin=stdin)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0].lower(), lines[0]
