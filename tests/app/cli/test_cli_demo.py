"""``liverburden demo``: the README's first command runs the main job on the embedded default."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, SAMPLE_DICOM


def _demo(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIVERBURDEN_HOME": str(home)}
    env.pop("LIVERBURDEN_DATABASE_URL", None)
    env.pop("LIVERBURDEN_BROKER_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", *(args or ("--json",))],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_measures_the_sample_through_the_service_and_is_idempotent(tmp_path: Path) -> None:
    """The demo uploads, measures and reads back the sample's truth; a re-run reuses the result."""
    truth = json.loads((SAMPLE_DICOM / "truth.json").read_text())
    first = _demo(tmp_path / "home")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout[first.stdout.index("{") :])
    assert result["liver_volume_ml"] == pytest.approx(truth["liver_volume_ml"], rel=1e-9)
    assert result["tumor_volume_ml"] == pytest.approx(truth["tumor_volume_ml"], rel=1e-9)
    assert result["created_by"] and result["input_sha256"]
    assert (tmp_path / "home" / "liverburden.db").is_file()
    assert any((tmp_path / "home" / "blobs").rglob("*"))
    second = _demo(tmp_path / "home")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout[second.stdout.index("{") :])
    assert again["measurement_id"] == result["measurement_id"]
    text = _demo(tmp_path / "home", "--subject", "DEMO-001")  # text, as the README runs it
    assert text.returncode == 0, text.stderr
    assert f"liver       {truth['liver_volume_ml']:.3f} mL" in text.stdout
    assert f"burden      {100 * truth['burden_fraction']:.2f} %" in text.stdout
    assert "EDC eligibility: " in text.stdout and "Traceback" not in text.stderr
