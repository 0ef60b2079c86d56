"""Tests of non-target lesion status and response (RECIST 1.1 §4.3.2)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from recist.model import Lesion, LesionRole, Measurement, NonTargetStatus
from recist.rules import non_target_response, non_target_status

D = Decimal
S = NonTargetStatus
MASS = Lesion("NT1", "liver", False, LesionRole.NON_TARGET)
NODE = Lesion("NN1", "lymph node", True, LesionRole.NON_TARGET)


@pytest.mark.parametrize(
    ("lesion", "measurement", "expected"),
    [
        (MASS, Measurement("NT1", status=S.PRESENT), S.PRESENT),
        (MASS, Measurement("NT1", status=S.ABSENT), S.ABSENT),
        (MASS, Measurement("NT1", status=S.UNEQUIVOCAL_PROGRESSION), S.UNEQUIVOCAL_PROGRESSION),
        (MASS, Measurement("NT1", status=S.NOT_EVALUATED), S.NOT_EVALUATED),
        (MASS, None, S.NOT_EVALUATED),
        (MASS, Measurement("NT1", diameter_mm=D(0)), S.ABSENT),
        (MASS, Measurement("NT1", diameter_mm=D(3)), S.PRESENT),
        (NODE, Measurement("NN1", diameter_mm=D("9.99")), S.ABSENT),
        (NODE, Measurement("NN1", diameter_mm=D("10")), S.PRESENT),
        (NODE, Measurement("NN1", status=S.PRESENT, diameter_mm=D("9")), S.ABSENT),
        (
            NODE,
            Measurement("NN1", status=S.UNEQUIVOCAL_PROGRESSION, diameter_mm=D(9)),
            S.UNEQUIVOCAL_PROGRESSION,
        ),
    ],
    ids=[
        "present",
        "absent",
        "unequivocal",
        "not-evaluated",
        "missing-reading",
        "mass-0mm",
        "mass-3mm",
        "node-9.99mm-absent",
        "node-10mm-present",
        "node-present-but-9mm",
        "node-unequivocal-wins",
    ],
)
def test_non_target_status(
    lesion: Lesion, measurement: Measurement | None, expected: NonTargetStatus
) -> None:
    """RECIST 1.1 §4.3.2: a non-target node is absent (normal) when its short axis < 10 mm."""
    assert non_target_status(lesion, measurement) == expected


@pytest.mark.parametrize(
    ("statuses", "after_cr", "expected"),
    [
        ([S.ABSENT, S.ABSENT], False, "CR"),
        ([S.ABSENT, S.PRESENT], False, "NON_CR_NON_PD"),
        ([S.PRESENT], False, "NON_CR_NON_PD"),
        ([S.PRESENT, S.UNEQUIVOCAL_PROGRESSION], False, "PD"),
        ([S.NOT_EVALUATED, S.UNEQUIVOCAL_PROGRESSION], False, "PD"),
        ([S.ABSENT, S.NOT_EVALUATED], False, "NE"),
        ([S.PRESENT, S.NOT_EVALUATED], False, "NE"),
        ([S.ABSENT, S.PRESENT], True, "PD"),
        ([S.ABSENT, S.ABSENT], True, "CR"),
        ([S.NOT_EVALUATED, S.PRESENT], True, "PD"),
    ],
    ids=[
        "all-absent-cr",
        "one-present",
        "present",
        "unequivocal-pd",
        "pd-despite-ne",
        "not-all-evaluated",
        "present-and-ne",
        "reappearance-after-cr",
        "still-cr",
        "reappearance-despite-ne",
    ],
)
def test_non_target_response(
    statuses: list[NonTargetStatus], after_cr: bool, expected: str
) -> None:
    """RECIST 1.1 §4.3.2-4.3.3: CR all gone; PD unequivocal or back after CR; NE not all seen."""
    assert non_target_response(statuses, after_cr=after_cr) == expected
