"""RECIST 1.1 and mRECIST numeric criteria, as named exact decimal constants.

Every threshold used by the response rules lives here, so that rule code has no magic numbers and
each number can be traced to the guideline text.

Measurability (Eisenhauer et al. 2009, sections 3.1.1-3.1.2 and Appendix II):

- :data:`MIN_MEASURABLE_MM` -- a non-nodal lesion is measurable when its longest diameter is at
  least 10 mm on CT with slice thickness no greater than :data:`THICK_SLICE_MM` (5 mm); on thicker
  slices the minimum is :data:`SLICE_THICKNESS_FACTOR` (2) times the slice thickness.
- :data:`NODE_TARGET_MIN_SHORT_AXIS_MM` -- a lymph node is measurable (may be a target) when its
  short axis is at least 15 mm; :data:`NODE_NORMAL_MAX_MM` -- a node with short axis < 10 mm is
  normal (non-pathological); nodes of 10 mm to < 15 mm are pathological but non-measurable and may
  only be non-target lesions.

Target selection (section 4.2): at most :data:`MAX_TARGETS` (5) target lesions in total and
:data:`MAX_TARGETS_PER_ORGAN` (2) per organ; all lymph nodes together count as one organ.

Sums (sections 4.2 and 4.3.1, "target lesions that become 'too small to measure'"): a
target lesion that is present but too small to measure is recorded as :data:`TOO_SMALL_DEFAULT_MM`
(5 mm); a lesion that has disappeared counts :data:`ABSENT_MM` (0 mm).

Target response (section 4.3.1):

- PD: the sum increases by at least :data:`PD_RELATIVE_INCREASE` (20 %) over the nadir **and** by
  at least :data:`PD_ABSOLUTE_INCREASE_MM` (5 mm), both inclusive.
- PR: the sum decreases by at least :data:`PR_DECREASE` (30 %) from the baseline sum.
- CR: every non-nodal target has disappeared and every nodal target has a short axis below
  :data:`NODE_NORMAL_MAX_MM` (10 mm).

Best overall response (section 4.4.3, Table 3): confirmation of CR/PR no less than
:data:`CONFIRMATION_MIN_DAYS_DEFAULT` (4 weeks) later (section 4.6.1); SD must be met at least
once after a protocol-defined minimum (sections 4.4.3, 4.6.3), :data:`SD_MIN_DAYS_DEFAULT` here
(6 weeks).

mRECIST (Lencioni & Llovet 2010) uses the same thresholds on the viable (arterially enhancing)
diameter of typical hepatocellular carcinoma lesions; it has no "too small" default.

References
----------
.. [1] Eisenhauer EA, Therasse P, Bogaerts J, et al. New response evaluation criteria in solid
   tumours: revised RECIST guideline (version 1.1). Eur J Cancer 2009;45:228-247.
.. [2] Schwartz LH, Litiere S, de Vries E, et al. RECIST 1.1 -- Update and clarification: From the
   RECIST committee. Eur J Cancer 2016;62:132-137.
.. [3] Lencioni R, Llovet JM. Modified RECIST (mRECIST) assessment for hepatocellular carcinoma.
   Semin Liver Dis 2010;30:52-60.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from recist._decimal import to_decimal
from recist.errors import RecistInputError

__all__ = [
    "ABSENT_MM",
    "CONFIRMATION_MIN_DAYS_DEFAULT",
    "HEPATIC_ORGAN",
    "MAX_TARGETS",
    "MAX_TARGETS_PER_ORGAN",
    "MIN_MEASURABLE_MM",
    "NODE_NORMAL_MAX_MM",
    "NODE_TARGET_MIN_SHORT_AXIS_MM",
    "PD_ABSOLUTE_INCREASE_MM",
    "PD_RELATIVE_INCREASE",
    "PR_DECREASE",
    "PR_MAX_FRACTION_OF_BASELINE",
    "SD_MIN_DAYS_DEFAULT",
    "SLICE_THICKNESS_FACTOR",
    "THICK_SLICE_MM",
    "TOO_SMALL_DEFAULT_MM",
    "is_measurable",
    "is_measurable_node",
]

# --- Measurability (sections 3.1.1-3.1.2, Appendix II) -------------------------------------------
#: Minimum longest diameter of a measurable non-nodal lesion on CT (mm).
MIN_MEASURABLE_MM: Final = Decimal("10")
#: Slice thickness above which the minimum size becomes a multiple of the thickness (mm).
THICK_SLICE_MM: Final = Decimal("5")
#: On slices thicker than :data:`THICK_SLICE_MM`, measurable means >= this factor x thickness.
SLICE_THICKNESS_FACTOR: Final = Decimal("2")
#: Minimum short axis of a lymph node that may be a target lesion (mm).
NODE_TARGET_MIN_SHORT_AXIS_MM: Final = Decimal("15")
#: A node whose short axis is below this is normal: "absent" / non-pathological (mm).
NODE_NORMAL_MAX_MM: Final = Decimal("10")

# --- Target selection (section 4.2) --------------------------------------------------------------
#: Maximum number of target lesions in total.
MAX_TARGETS: Final = 5
#: Maximum number of target lesions per organ (all lymph nodes are one organ).
MAX_TARGETS_PER_ORGAN: Final = 2

# --- Sums (sections 4.2, 4.3.1) ------------------------------------------------------------------
#: Value recorded for a target that is present but too small to measure (mm).
TOO_SMALL_DEFAULT_MM: Final = Decimal("5")
#: Value recorded for a target that has disappeared (mm).
ABSENT_MM: Final = Decimal("0")

# --- Target response (section 4.3.1) -------------------------------------------------------------
#: PD: relative increase of the sum over the nadir (inclusive).
PD_RELATIVE_INCREASE: Final = Decimal("0.20")
#: PD: absolute increase of the sum over the nadir (inclusive, mm).
PD_ABSOLUTE_INCREASE_MM: Final = Decimal("5")
#: PR: relative decrease of the sum from baseline (inclusive).
PR_DECREASE: Final = Decimal("0.30")
#: PR when sum <= this fraction of the baseline sum (1 - :data:`PR_DECREASE`).
PR_MAX_FRACTION_OF_BASELINE: Final = Decimal(1) - PR_DECREASE

# --- Best overall response (sections 4.4.3, 4.6) -------------------------------------------------
#: Default minimum interval between a CR/PR and its confirmation (days; "no less than 4 weeks").
CONFIRMATION_MIN_DAYS_DEFAULT: Final = 28
#: Default minimum time from the reference date for SD to count as best response (days).
SD_MIN_DAYS_DEFAULT: Final = 42

# --- Hepatic endpoint ----------------------------------------------------------------------------
#: Organ name (compared case-insensitively) whose lesions make up the hepatic response.
HEPATIC_ORGAN: Final = "liver"


def is_measurable(
    long_axis_mm: float | Decimal, slice_thickness_mm: float | Decimal | None
) -> bool:
    """Decide whether a non-nodal lesion is measurable, exactly in decimal.

    A lesion is measurable when its longest diameter is at least :data:`MIN_MEASURABLE_MM` and,
    when the slice thickness is known and greater than :data:`THICK_SLICE_MM`, also at least
    :data:`SLICE_THICKNESS_FACTOR` times the slice thickness.

    Parameters
    ----------
    long_axis_mm
        Longest in-plane diameter of the lesion, in mm.
    slice_thickness_mm
        Reconstructed slice thickness in mm, or ``None`` when unknown (then only the 10 mm rule
        applies).

    Returns
    -------
    bool
        ``True`` when the lesion is measurable.

    Raises
    ------
    RecistInputError
        If a value is not a finite number, or a length is negative / the thickness not positive.

    References
    ----------
    .. [1] Eisenhauer et al. 2009, section 3.1.1 ("10 mm by CT scan (CT scan slice thickness no
       greater than 5 mm)") and Appendix II ("When CT scans have slice thickness greater than
       5 mm, the minimum size for a measurable lesion should be twice the slice thickness").
    """
    long_axis = to_decimal(long_axis_mm, what="long_axis_mm")
    if long_axis < 0:
        raise RecistInputError(f"long_axis_mm: expected a length >= 0 mm, got {long_axis_mm!r}")
    if long_axis < MIN_MEASURABLE_MM:
        return False
    if slice_thickness_mm is None:
        return True
    thickness = to_decimal(slice_thickness_mm, what="slice_thickness_mm")
    if thickness <= 0:
        raise RecistInputError(
            f"slice_thickness_mm: expected a thickness > 0 mm, got {slice_thickness_mm!r}"
        )
    return thickness <= THICK_SLICE_MM or long_axis >= SLICE_THICKNESS_FACTOR * thickness


def is_measurable_node(short_axis_mm: float | Decimal) -> bool:
    """Decide whether a lymph node may be a target lesion (short axis >= 15 mm), exactly.

    Parameters
    ----------
    short_axis_mm
        Short axis of the node, in mm.

    Returns
    -------
    bool
        ``True`` when the short axis is at least :data:`NODE_TARGET_MIN_SHORT_AXIS_MM`.

    References
    ----------
    .. [1] Eisenhauer et al. 2009, section 3.1.1 ("Malignant lymph nodes: to be considered
       pathologically enlarged and measurable, a lymph node must be >= 15 mm in short axis").
    """
    return to_decimal(short_axis_mm, what="short_axis_mm") >= NODE_TARGET_MIN_SHORT_AXIS_MM
