"""Shared fixtures: where the third-party reference data lives, and service availability."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Real third-party data, read in place (never copied into the repository).
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()
SAMPLE_DICOM = REPO_ROOT / "sample_dicom"
#: Type 2 attributes of the Patient and General Study modules (PS3.3 C.7.1.1, C.7.2.1): what
#: de-identified images often lack and derived objects must still carry (empty when unknown).
#: Written out here so tests do not reuse the product's table.
TYPE2_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
)
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data; the suite fails (never skips) in CI when it is missing."""
    if not SHARED_DATA.is_dir():
        if IN_CI:
            pytest.fail(f"shared data folder not found at {SHARED_DATA}")
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA
