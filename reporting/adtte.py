"""CDISC ADaM ADTTE-style dataset of the hepatic progression-free interval (``PARAMCD = HPFS``).

One row per subject (contracts/trial-record.md, Endpoint): ``STUDYID``, ``USUBJID``
(``STUDYID-SUBJID`` as in SDTM), ``PARAMCD = "HPFS"``, ``PARAM``, ``STARTDT`` (randomization,
else baseline), ``ADT`` (event or censoring date), ``AVAL = ADT - STARTDT + 1`` in days,
``CNSR`` (0 event, 1 censored, ADaM's convention), ``EVNTDESC``, ``CNSDTDSC`` (why censored),
``ARM``; dates are SAS dates (``DATE9.``) in XPT and ISO 8601 in CSV. The rules deciding event
and censoring are :mod:`recist.endpoint`'s.

References
----------
.. [1] CDISC ADaM Basic Data Structure for Time-to-Event Analyses (ADTTE), version 1.0.
.. [2] FDA. Clinical Trial Endpoints for the Approval of Cancer Drugs and Biologics, 2018.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from recist.endpoint import HepaticPfs
from reporting._sdtm_io import SdtmDataset, Value, Variable
from reporting.errors import ReportingInputError

__all__ = ["ADTTE_VARIABLES", "HpfsRow", "build_adtte"]

ADTTE_VARIABLES = (
    Variable("STUDYID", "Study Identifier"),
    Variable("USUBJID", "Unique Subject Identifier"),
    Variable("PARAMCD", "Parameter Code"),
    Variable("PARAM", "Parameter"),
    Variable("STARTDT", "Time to Event Origin Date for Subject", date=True),
    Variable("ADT", "Analysis Date", date=True),
    Variable("AVAL", "Analysis Value", numeric=True),
    Variable("CNSR", "Censor", numeric=True),
    Variable("EVNTDESC", "Event or Censoring Description"),
    Variable("CNSDTDSC", "Censor Date Description"),
    Variable("ARM", "Description of Planned Arm"),
)
_PARAM = "Hepatic Progression-Free Interval (days)"


@dataclass(frozen=True, slots=True)
class HpfsRow:
    """One subject's interval with what the dataset names it by."""

    subject_id: str
    arm: str | None
    hpfs: HepaticPfs


def build_adtte(rows: Sequence[HpfsRow], *, study_id: str) -> SdtmDataset:
    """Return the ADTTE dataset of ``rows`` (sorted by subject id)."""
    if not study_id.strip():
        raise ReportingInputError("study_id: expected a non-empty study identifier")
    out: list[dict[str, Value]] = []
    for row in sorted(rows, key=lambda r: r.subject_id):
        h = row.hpfs
        out.append(
            {
                "STUDYID": study_id,
                "USUBJID": f"{study_id}-{row.subject_id}",
                "PARAMCD": "HPFS",
                "PARAM": _PARAM,
                "STARTDT": h.start_date,
                "ADT": h.date,
                "AVAL": float(h.days),
                "CNSR": 0.0 if h.event else 1.0,
                "EVNTDESC": "HEPATIC PROGRESSION (RECIST 1.1)"
                if h.event
                else "CENSORED: " + (h.censor_reason or "").upper(),
                "CNSDTDSC": "" if h.event else _censor_date_description(h),
                "ARM": row.arm or "",
            }
        )
    return SdtmDataset("ADTTE", "Time to Event Analysis Dataset", ADTTE_VARIABLES, tuple(out))


def _censor_date_description(h: HepaticPfs) -> str:
    if h.last_assessment is not None:
        return "DATE OF LAST ADEQUATE ASSESSMENT"
    return "RANDOMIZATION DATE" if h.start == "randomization" else "BASELINE SCAN DATE"
