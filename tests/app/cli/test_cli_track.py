"""``liverburden track``: the proposed lesion record of measured visits, printed for scripts.

The visits are the moved-patient phantom timeline of tests/app/measure/test_tracking.py, measured
with ``liverburden measure --json --masks-out`` as a script would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phantoms import make_phantom, write_dicom_series, write_label_nifti
from tests.app._cli import liverburden
from tests.app.measure.test_tracking import BASE, POSES, _follow_spec


@pytest.fixture(scope="module")
def visits(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("track")
    out = []
    for name, spec in (("base", BASE), ("fu", _follow_spec(POSES[0].values[0]))):
        phantom = make_phantom(spec)
        write_dicom_series(phantom, root / name / "ct")
        labels = write_label_nifti(phantom, root / name / "labels.nii.gz")
        proc = liverburden(
            root / "home",
            "measure",
            "--series",
            str(root / name / "ct"),
            "--labels",
            str(labels),
            "--json",
            "--masks-out",
            str(root / f"{name}.masks.npz"),
        )
        assert proc.returncode == 0, proc.stderr
        (root / f"{name}.json").write_text(proc.stdout)
        out.append(root / f"{name}.json")
    return out


def test_track_prints_the_proposed_record_and_links(visits: list[Path], tmp_path: Path) -> None:
    proc = liverburden(tmp_path, "track", *map(str, visits), "--json")
    assert proc.returncode == 0, proc.stderr
    proposal = json.loads(proc.stdout)
    roles = {les["lesion_id"]: les["role"] for les in proposal["lesions"]}
    assert roles == {
        "T1": "target",
        "T2": "target",  # two per organ: all six lesions are in the liver
        "NT1": "non_target",
        "NT2": "non_target",
        "NT3": "non_target",
        "NT4": "non_target",
    }
    fu = proposal["visits"][1]
    kinds = sorted(r["evidence"]["kind"] for r in fu["readings"])
    # 2 matched, 1 split, 2 merged (continuing + absorbed), 1 absent, 1 new lesion
    assert kinds == ["absent", "matched", "matched", "merged", "merged", "new", "split"]
    assert [n["lesion_id"] for n in fu["new_lesions"]] == ["NEW1"]
    split = next(r for r in fu["readings"] if r["evidence"]["kind"] == "split")
    assert len(split["fragments_mm"]) == 2

    text = liverburden(tmp_path, "track", *map(str, visits))
    assert text.returncode == 0, text.stderr
    assert "lesion record (proposed)" in text.stdout and "NEW1" in text.stdout


def test_track_refuses_missing_or_foreign_masks(visits: list[Path], tmp_path: Path) -> None:
    base, fu = visits
    missing = liverburden(
        tmp_path,
        "track",
        str(base),
        str(fu),
        "--masks",
        str(tmp_path / "x"),
        "--masks",
        str(tmp_path / "y"),
    )
    assert missing.returncode == 2
    assert "cannot be read" in missing.stderr and "Traceback" not in missing.stderr
    foreign = liverburden(
        tmp_path,
        "track",
        str(base),
        str(fu),
        "--masks",
        str(fu.with_name("fu.masks.npz")),
        "--masks",
        str(fu.with_name("fu.masks.npz")),
    )
    assert foreign.returncode == 2
    assert "another measurement" in foreign.stderr
    not_json = tmp_path / "x.json"
    not_json.write_text("{")
    bad = liverburden(tmp_path, "track", str(not_json))
    assert bad.returncode == 2 and "not a readable measure JSON" in bad.stderr
