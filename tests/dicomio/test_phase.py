"""Contrast phase from descriptions, contrast attributes, bolus timing and acquisition order."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from dicomio import Phase, PhaseClues, classify_phase, discover
from dicomio.phase import order_phases, phase_from_description
from tests.dicomio._series_synth import write_stack


@pytest.mark.parametrize(
    ("description", "phase"),
    [
        ("ABD ARTERIAL 1.25mm", Phase.ARTERIAL),
        ("Late Arterial Phase", Phase.ARTERIAL),
        ("LIVER ART", Phase.ARTERIAL),
        ("Portal Venous 3mm", Phase.PORTAL_VENOUS),
        ("abdomen_pv", Phase.PORTAL_VENOUS),
        ("PVP liver", Phase.PORTAL_VENOUS),
        ("Venous phase", Phase.PORTAL_VENOUS),
        ("DELAYED 5 min", Phase.DELAYED),
        ("Equilibrium", Phase.DELAYED),
        ("Abdomen nativ", Phase.NON_CONTRAST),
        ("NON-CONTRAST", Phase.NON_CONTRAST),
        ("CT ABD W/O", Phase.NON_CONTRAST),
        ("plain abdomen", Phase.NON_CONTRAST),
        ("Body 3.0 B31f", Phase.UNKNOWN),
        ("PARTIAL", Phase.UNKNOWN),
        ("cartilage", Phase.UNKNOWN),
        ("", Phase.UNKNOWN),
    ],
)
def test_description_keywords(description: str, phase: Phase) -> None:
    """Whole-word keywords in the series description name the phase; substrings do not."""
    assert phase_from_description(description) is phase


@pytest.mark.parametrize(
    ("clues", "phase"),
    [
        (PhaseClues(contrast_agent="NONE"), Phase.NON_CONTRAST),
        (PhaseClues(contrast_agent=""), Phase.UNKNOWN),
        (PhaseClues(contrast_agent="IOPAMIDOL"), Phase.UNKNOWN),
        (PhaseClues(contrast_agent="IOPAMIDOL", contrast_delay_s=30), Phase.ARTERIAL),
        (PhaseClues(contrast_agent="IOPAMIDOL", contrast_delay_s=70), Phase.PORTAL_VENOUS),
        (PhaseClues(contrast_agent="IOPAMIDOL", contrast_delay_s=300), Phase.DELAYED),
        (PhaseClues(description="arterial", contrast_delay_s=300), Phase.ARTERIAL),
    ],
    ids=[
        "agent-none",
        "agent-empty",
        "agent-only",
        "delay-30s",
        "delay-70s",
        "delay-300s",
        "description-wins",
    ],
)
def test_single_series_clues(clues: PhaseClues, phase: Phase) -> None:
    """An explicit 'no agent' is non-contrast, an empty agent is unknown, bolus delay sorts."""
    assert classify_phase(clues) is phase


def _t(minute: int, second: int = 0) -> datetime:
    return datetime(2024, 1, 1, 10, minute, second)


def test_acquisition_order_assigns_phases_in_one_study() -> None:
    """Silent contrast series of one study: first arterial, then portal venous, then delayed."""
    agent = PhaseClues(contrast_agent="IOHEXOL")
    got = order_phases(
        [
            ("c", "S", _t(5), agent),
            ("a", "S", _t(0, 30), agent),
            ("b", "S", _t(1, 10), agent),
            ("n", "S", _t(0, 0), PhaseClues(description="nativ")),
            ("lone", "T", _t(2), agent),
        ]
    )
    assert got == {
        "a": Phase.ARTERIAL,
        "b": Phase.PORTAL_VENOUS,
        "c": Phase.DELAYED,
        "n": Phase.NON_CONTRAST,
        "lone": Phase.UNKNOWN,
    }


def test_order_continues_after_a_named_phase() -> None:
    """A silent series after a series named portal venous is delayed."""
    agent = PhaseClues(contrast_agent="IOHEXOL")
    got = order_phases(
        [
            ("pv", "S", _t(1), PhaseClues(description="portal venous", contrast_agent="X")),
            ("late", "S", _t(4), agent),
        ]
    )
    assert got["late"] is Phase.DELAYED


def test_discover_reports_phases_of_a_multiphase_study(tmp_path: Path) -> None:
    """discover() gives each series of a synthetic 4-phase study its phase from the headers."""
    specs = [
        ("1.2.9.1", "Abdomen nativ", "", "100000"),
        ("1.2.9.2", "Abdomen 1", "IOMEPROL", "100040"),
        ("1.2.9.3", "Abdomen 2", "IOMEPROL", "100115"),
        ("1.2.9.4", "Abdomen 3", "IOMEPROL", "100500"),
    ]
    for uid, desc, agent, time in specs:
        extra: dict[str, object] = {"AcquisitionTime": time, "AcquisitionDate": "20240101"}
        if agent:
            extra["ContrastBolusAgent"] = agent
        write_stack(
            tmp_path / uid, [(0, 0, 0), (0, 0, 1)], series_uid=uid, description=desc, extra=extra
        )
    phases = {s.series_instance_uid: s.phase for s in discover(tmp_path)}
    assert phases == {
        "1.2.9.1": Phase.NON_CONTRAST,
        "1.2.9.2": Phase.ARTERIAL,
        "1.2.9.3": Phase.PORTAL_VENOUS,
        "1.2.9.4": Phase.DELAYED,
    }


def test_sample_series_is_portal_venous_by_description() -> None:
    """The bundled sample ('... PORTAL VENOUS', 70 s after the bolus) reads as portal venous."""
    from dicomio import read_series
    from tests.conftest import SAMPLE_DICOM

    assert read_series(SAMPLE_DICOM / "ct", pixels=False).info.phase is Phase.PORTAL_VENOUS
