"""Domain records of the RECIST response engine: categories, inputs and results.

All records are frozen, slotted dataclasses; categories are :class:`enum.StrEnum` so that they
serialise to the contract's strings. Lengths are exact :class:`~decimal.Decimal` millimetres:
numbers given as ``float`` or ``int`` are converted through their decimal spelling (``21 * 1.2`` is
decided as ``25.2``, never as ``25.200000000000003``).

References
----------
.. [1] Eisenhauer EA, et al. New response evaluation criteria in solid tumours: revised RECIST
   guideline (version 1.1). Eur J Cancer 2009;45:228-247.
.. [2] Lencioni R, Llovet JM. Modified RECIST (mRECIST) assessment for hepatocellular carcinoma.
   Semin Liver Dis 2010;30:52-60.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from recist._decimal import to_decimal
from recist.criteria import (
    CONFIRMATION_MIN_DAYS_DEFAULT,
    HEPATIC_ORGAN,
    SD_MIN_DAYS_DEFAULT,
)
from recist.errors import RecistInputError

__all__ = [
    "Assessment",
    "AssessmentInput",
    "Criteria",
    "HepaticProgression",
    "Lesion",
    "LesionRole",
    "Measurement",
    "NewLesion",
    "NewLesionCall",
    "NonTargetStatus",
    "Options",
    "ResponseCategory",
    "ScopeResult",
    "TargetStatus",
    "Timepoint",
    "TimepointResult",
]

#: Organ key shared by every lymph node: all nodes count as one organ (RECIST 1.1 section 4.2).
LYMPH_NODE_ORGAN_KEY = "lymph node"


def organ_key(organ: str) -> str:
    """Normalise an organ name for comparison (surrounding blanks and case are ignored)."""
    return " ".join(organ.split()).casefold()


class ResponseCategory(StrEnum):
    """Response of a timepoint or best overall response (RECIST 1.1 sections 4.3-4.4)."""

    CR = "CR"
    PR = "PR"
    SD = "SD"
    PD = "PD"
    NE = "NE"
    NON_CR_NON_PD = "NON_CR_NON_PD"


class LesionRole(StrEnum):
    """Role chosen for a lesion at baseline (RECIST 1.1 section 4.2)."""

    TARGET = "target"
    NON_TARGET = "non_target"


class TargetStatus(StrEnum):
    """Status of a target lesion that is not given as a diameter (RECIST 1.1 section 4.3.1)."""

    TOO_SMALL = "too_small"
    ABSENT = "absent"
    NOT_EVALUATED = "not_evaluated"


class NonTargetStatus(StrEnum):
    """Qualitative status of a non-target lesion (RECIST 1.1 section 4.3.2)."""

    PRESENT = "present"
    ABSENT = "absent"
    UNEQUIVOCAL_PROGRESSION = "unequivocal_progression"
    NOT_EVALUATED = "not_evaluated"


class Criteria(StrEnum):
    """Response criteria: RECIST 1.1, or mRECIST for hepatocellular carcinoma."""

    RECIST_1_1 = "recist1.1"
    MRECIST = "mrecist"


def _require_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RecistInputError(f"{what}: expected a non-empty string, got {value!r}")
    return value


def _length(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, float | int | Decimal | str):
        raise RecistInputError(f"{what}: expected a number, got {type(value).__name__}")
    result = to_decimal(value, what=what)
    if result < 0:
        raise RecistInputError(f"{what}: expected a length >= 0 mm, got {value}")
    return result


def _optional_length(value: object, what: str) -> Decimal | None:
    return None if value is None else _length(value, what)


def _days(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RecistInputError(f"{what}: expected a whole number of days >= 0, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Lesion:
    """A lesion recorded at baseline.

    Parameters
    ----------
    lesion_id
        Identifier, unique within the subject.
    organ
        Organ or site (compared case-insensitively; ``"liver"`` makes it hepatic).
    lymph_node
        ``True`` for a lymph node: measured by its short axis, all nodes are one organ.
    role
        Target or non-target.
    """

    lesion_id: str
    organ: str
    lymph_node: bool
    role: LesionRole

    def __post_init__(self) -> None:
        _require_text(self.lesion_id, "lesion_id")
        where = f"lesion {self.lesion_id!r}"
        _require_text(self.organ, f"{where}: organ")
        if not isinstance(self.lymph_node, bool):
            raise RecistInputError(f"{where}: lymph_node: expected true or false")
        try:
            object.__setattr__(self, "role", LesionRole(self.role))
        except ValueError as exc:
            raise RecistInputError(
                f"{where}: role {self.role!r} unknown; expected 'target' or 'non_target'"
            ) from exc

    @property
    def organ_key(self) -> str:
        """Organ used for the per-organ target limit: every lymph node is one organ."""
        return LYMPH_NODE_ORGAN_KEY if self.lymph_node else organ_key(self.organ)

    @property
    def is_hepatic(self) -> bool:
        """Whether the lesion is in the liver (organ ``"liver"``, any case)."""
        return organ_key(self.organ) == HEPATIC_ORGAN

    @property
    def is_target(self) -> bool:
        """Whether the lesion is a target lesion."""
        return self.role is LesionRole.TARGET


@dataclass(frozen=True, slots=True)
class Measurement:
    """One lesion's reading at one timepoint.

    A target lesion gives a size (``diameter_mm``: long axis, or short axis for a node;
    ``fragments_mm`` for a split lesion; ``viable_diameter_mm`` under mRECIST) or a
    :class:`TargetStatus`. A non-target gives a :class:`NonTargetStatus` and/or, for a node,
    its short axis. ``slice_thickness_mm`` (optional) overrides the timepoint's.
    """

    lesion_id: str
    diameter_mm: Decimal | None = None
    status: TargetStatus | NonTargetStatus | None = None
    fragments_mm: tuple[Decimal, ...] | None = None
    viable_diameter_mm: Decimal | None = None
    slice_thickness_mm: Decimal | None = None

    def __post_init__(self) -> None:
        _require_text(self.lesion_id, "measurement lesion_id")
        where = f"lesion {self.lesion_id!r}"
        for name in ("diameter_mm", "viable_diameter_mm", "slice_thickness_mm"):
            value = _optional_length(getattr(self, name), f"{where}: {name}")
            object.__setattr__(self, name, value)
        if self.fragments_mm is not None:
            if isinstance(self.fragments_mm, str | bytes) or not self.fragments_mm:
                raise RecistInputError(f"{where}: fragments_mm: expected a non-empty list")
            fragments = tuple(_length(v, f"{where}: fragments_mm") for v in self.fragments_mm)
            object.__setattr__(self, "fragments_mm", fragments)
        if self.status is not None and not isinstance(self.status, TargetStatus | NonTargetStatus):
            object.__setattr__(self, "status", _parse_status(self.status, where))

    @property
    def has_size(self) -> bool:
        """Whether any size (diameter, fragments or viable diameter) is given."""
        sizes = (self.diameter_mm, self.fragments_mm, self.viable_diameter_mm)
        return any(v is not None for v in sizes)


def _parse_status(value: object, where: str) -> TargetStatus | NonTargetStatus:
    if isinstance(value, str):
        for enum in (TargetStatus, NonTargetStatus):
            if value in enum.__members__.values():
                return enum(value)
    allowed = sorted({*TargetStatus, *NonTargetStatus})
    raise RecistInputError(f"{where}: status {value!r} unknown; expected one of {allowed}")


@dataclass(frozen=True, slots=True)
class NewLesion:
    """A new lesion seen at a follow-up (RECIST 1.1 section 4.3.4)."""

    organ: str
    equivocal: bool = False

    def __post_init__(self) -> None:
        _require_text(self.organ, "new lesion organ")
        if not isinstance(self.equivocal, bool):
            raise RecistInputError("new lesion equivocal: expected true or false")

    @property
    def organ_key(self) -> str:
        """Normalised organ name used to match an equivocal lesion with its confirmation."""
        return organ_key(self.organ)

    @property
    def is_hepatic(self) -> bool:
        """Whether the new lesion is in the liver."""
        return self.organ_key == HEPATIC_ORGAN


@dataclass(frozen=True, slots=True)
class Timepoint:
    """One imaging timepoint: baseline or follow-up."""

    date: dt.date
    baseline: bool = False
    measurements: tuple[Measurement, ...] = ()
    new_lesions: tuple[NewLesion, ...] = ()
    slice_thickness_mm: Decimal | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.date, dt.date) or isinstance(self.date, dt.datetime):
            raise RecistInputError(f"timepoint date: expected a date, got {self.date!r}")
        if not isinstance(self.baseline, bool):
            raise RecistInputError(f"timepoint {self.date}: baseline: expected true or false")
        object.__setattr__(self, "measurements", tuple(self.measurements))
        object.__setattr__(self, "new_lesions", tuple(self.new_lesions))
        thickness = _optional_length(self.slice_thickness_mm, f"timepoint {self.date}: thickness")
        object.__setattr__(self, "slice_thickness_mm", thickness)


@dataclass(frozen=True, slots=True)
class Options:
    """Assessment options (contract defaults).

    Parameters
    ----------
    confirmation_required
        Best overall response needs confirmed CR/PR (RECIST 1.1 sections 4.4.3, 4.6.1, Table 3).
    confirmation_min_days
        Minimum interval between a response and its confirmation.
    sd_min_days
        Minimum time from the reference date for SD to count as best response (section 4.4.3).
    continued_pr
        Once PR is reached (and confirmed, when required), SD timepoints stay PR until PD.
    criteria
        RECIST 1.1, or mRECIST (viable diameters, no 5 mm too-small default).
    """

    confirmation_required: bool = False
    confirmation_min_days: int = CONFIRMATION_MIN_DAYS_DEFAULT
    sd_min_days: int = SD_MIN_DAYS_DEFAULT
    continued_pr: bool = True
    criteria: Criteria = Criteria.RECIST_1_1

    def __post_init__(self) -> None:
        for name in ("confirmation_required", "continued_pr"):
            if not isinstance(getattr(self, name), bool):
                raise RecistInputError(f"options.{name}: expected true or false")
        _days(self.confirmation_min_days, "options.confirmation_min_days")
        _days(self.sd_min_days, "options.sd_min_days")
        try:
            object.__setattr__(self, "criteria", Criteria(self.criteria))
        except ValueError as exc:
            allowed = [c.value for c in Criteria]
            raise RecistInputError(
                f"options.criteria: {self.criteria!r} unknown; expected one of {allowed}"
            ) from exc


@dataclass(frozen=True, slots=True)
class AssessmentInput:
    """Everything needed to assess one subject; ``reference_date`` defaults to baseline."""

    subject_id: str
    lesions: tuple[Lesion, ...]
    timepoints: tuple[Timepoint, ...]
    options: Options = field(default_factory=Options)
    reference_date: dt.date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "lesions", tuple(self.lesions))
        object.__setattr__(self, "timepoints", tuple(self.timepoints))


@dataclass(frozen=True, slots=True)
class NewLesionCall:
    """How the new lesions of one follow-up count (see :func:`recist.rules.new_lesion_calls`).

    ``progression`` is ``True`` when a new lesion counts as PD at this timepoint: an
    unequivocal one, or an equivocal one confirmed later (``backdated_organs``).
    """

    progression: bool
    equivocal: bool
    backdated_organs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScopeResult:
    """Sums and responses of one timepoint for one scope (all lesions, or liver lesions only).

    ``sum_mm`` is ``None`` when a target is not evaluated (``evaluated_sum_mm`` then holds the sum
    of the targets that were); both are ``None`` when the scope has no target lesions.
    """

    sum_mm: Decimal | None
    evaluated_sum_mm: Decimal | None
    nadir_mm: Decimal | None
    target_response: ResponseCategory | None
    non_target_response: ResponseCategory | None
    new_lesions: bool
    equivocal_new_lesions: bool
    overall_response: ResponseCategory | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TimepointResult:
    """Result of one timepoint: the subject's response and the hepatic (liver-only) response."""

    date: dt.date
    baseline: bool
    days_from_reference: int
    all_lesions: ScopeResult
    hepatic: ScopeResult

    @property
    def overall_response(self) -> ResponseCategory | None:
        """Overall response of the timepoint (RECIST 1.1 Tables 1 and 2)."""
        return self.all_lesions.overall_response

    @property
    def hepatic_response(self) -> ResponseCategory | None:
        """Overall response restricted to liver lesions and new liver lesions."""
        return self.hepatic.overall_response


@dataclass(frozen=True, slots=True)
class HepaticProgression:
    """The trial's endpoint: whether and when the hepatic response was first PD."""

    progressed: bool
    date: dt.date | None


@dataclass(frozen=True, slots=True)
class Assessment:
    """Assessment of one subject over all timepoints."""

    subject_id: str
    criteria: Criteria
    timepoints: tuple[TimepointResult, ...]
    best_overall_response: ResponseCategory
    hepatic_best_overall_response: ResponseCategory | None
    hepatic_progression: HepaticProgression
