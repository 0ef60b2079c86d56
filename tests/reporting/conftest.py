"""Fixtures of the reporting tests: a tiny CT study, subjects with assessments, and helpers."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from PIL import Image

import recist
from reporting import SubjectData, TimepointMeasurement
from tests.reporting._ct import TinyCT, assessment_input, make_tiny_ct


@pytest.fixture(scope="session")
def tiny_ct() -> TinyCT:
    """Axial 10 x 64 x 64 CT with a liver and two lesions (L1 about 18 mm, L2 about 10 mm)."""
    return make_tiny_ct()


def make_subject(
    subject_id: str = "S-001",
    sums: tuple[float, ...] = (30.0, 20.0, 36.0),
    arm: str | None = "A",
    measurement: dict[str, Any] | None = None,
) -> SubjectData:
    """A subject whose assessment comes from the real RECIST engine."""
    data = assessment_input(subject_id, sums)
    timepoints: tuple[TimepointMeasurement, ...] = ()
    if measurement is not None:
        timepoints = tuple(
            TimepointMeasurement.from_json(tp["date"], measurement, lesion_uids={"L1": "1.2.3.4"})
            for tp in data["timepoints"]
        )
    return SubjectData(
        assessment=recist.assess(data), assessment_input=data, arm=arm, timepoints=timepoints
    )


@pytest.fixture()
def subject(tiny_ct: TinyCT) -> SubjectData:
    """S-001: sums 30 -> 20 (PR) -> 36 (PD), a measurement at every timepoint."""
    return make_subject(measurement=tiny_ct.measurement)


def png_image(data: bytes) -> Image.Image:
    """Decode PNG bytes (and check the signature)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


GENERATED_AT = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
