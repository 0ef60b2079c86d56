"""CDISC SDTM Tumor/Lesion domains TU, TR and RS for one subject or a whole trial (RECIST 1.1).

Controlled terms (CDISC SDTM Oncology, SDTMIG v3.3 sections 6.3.11 TU/TR/RS):

- **TU** (Tumor/Lesion Identification): one ``TUTESTCD = "TUMIDENT"`` row per lesion declared at
  baseline (``TUORRES`` = ``TARGET`` or ``NON-TARGET``) and per new lesion at the visit where it
  appeared (``NEW``; sponsor value ``EQUIVOCAL NEW`` for an equivocal one). ``TULNKID`` is the
  lesion id (new lesions: ``NEW01``, ``NEW02``, ...), ``TULOC`` the organ in upper case.
- **TR** (Tumor/Lesion Results), linked to TU by ``TRLNKID``: ``LDIAM`` "Longest Diameter" for
  non-nodal targets, ``LPERP`` "Longest Perpendicular" (short axis) for nodal targets,
  ``TUMSTATE`` "Tumor State" for non-targets (``PRESENT``, ``ABSENT``,
  ``UNEQUIVOCAL PROGRESSION``), and one ``SUMDIAM`` "Sum of Diameters" per visit. A target
  reported "too small to measure" has ``TRORRES = "TOO SMALL TO MEASURE"`` and the 5 mm that
  RECIST counts in ``TRSTRESN``; one that disappeared has 0 mm; a lesion not evaluated has
  ``TRSTAT = "NOT DONE"``, ``TRREASND = "NOT EVALUATED"``. The readings of scans before the
  baseline (screening, ``VISIT = "SCREENING"`` unless named) come first: they show the
  pre-enrolment progression the eligibility rests on; RS has no response for them.
- **RS** (Disease Response), ``RSCAT = "RECIST 1.1"``: per follow-up visit ``TRGRESP`` "Target
  Response", ``NTRGRESP`` "Non-target Response", ``NEWLPROG`` "New Lesion Progression"
  (``Y``/``N``; sponsor value ``EQUIVOCAL``), ``OVRLRESP`` "Overall Response", and one
  ``BESTRESP`` "Best Overall Response" per subject. Responses are ``CR``, ``PR``, ``SD``, ``PD``,
  ``NE`` and ``NON-CR/NON-PD``.

Sponsor-defined tests (documented here, as SDTMIG requires for tests outside the terminology):

- TR ``TRTESTCD = "TUMBURDN"``, ``TRTEST = "Tumor Burden Fraction of Liver Volume"``:
  hepatic tumour volume / total liver volume of the visit's measurement (contracts/measure.md),
  in percent (``TRORRESU = TRSTRESU = "%"``), ``TRGRPID = "LIVER"``, ``TRMETHOD`` the modality.
- RS ``RSTESTCD = "HEPRESP"``, ``RSTEST = "Hepatic Overall Response"``, ``RSCAT = "RECIST 1.1"``:
  the RECIST 1.1 rules restricted to liver lesions plus new liver lesions (the trial's hepatic
  progression endpoint, contracts/recist-assess.md).
- RS ``RSTESTCD = "HEPPROG"``, ``RSTEST = "Hepatic Progression"``, ``RSCAT = "RECIST 1.1"``: ``Y``
  at the visit of the first hepatic progression (``RSDTC`` its date, the endpoint's event date;
  an equivocal new liver lesion confirmed later dates it back), else one ``N`` per subject
  without a visit once a follow-up was assessed.

``USUBJID`` is ``STUDYID-SUBJID``. Visits are numbered by date (``VISITNUM`` 1, 2, ...) and named
``BASELINE`` / ``FOLLOW-UP n`` unless the caller names them. Dates (``--DTC``) are ISO 8601.

References
----------
.. [1] CDISC SDTM Implementation Guide v3.3, sections 6.3.11.1-6.3.11.3 (TU, TR, RS).
.. [2] CDISC Controlled Terminology: TUTESTCD (C96783), TRTESTCD (C96779), RSTESTCD (C96781).
.. [3] Eisenhauer EA, et al. RECIST 1.1. Eur J Cancer 2009;45:228-247.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reporting._sdtm_io import SdtmDataset, Value, Variable
from reporting._sdtm_rows import rs_rows, tr_rows, tu_rows
from reporting.errors import ReportingInputError
from reporting.model import SubjectData

__all__ = ["DOMAINS", "SdtmDataset", "build_sdtm"]

#: The domains this module builds.
DOMAINS = ("TU", "TR", "RS")

_COMMON = (
    Variable("STUDYID", "Study Identifier"),
    Variable("DOMAIN", "Domain Abbreviation"),
    Variable("USUBJID", "Unique Subject Identifier"),
)
_VISIT = (Variable("VISITNUM", "Visit Number", numeric=True), Variable("VISIT", "Visit Name"))

_VARIABLES: Mapping[str, tuple[str, tuple[Variable, ...]]] = {
    "TU": (
        "Tumor/Lesion Identification",
        (
            *_COMMON,
            Variable("TUSEQ", "Sequence Number", numeric=True),
            Variable("TULNKID", "Link ID"),
            Variable("TUTESTCD", "Tumor/Lesion ID Short Name"),
            Variable("TUTEST", "Tumor/Lesion ID Test Name"),
            Variable("TUORRES", "Tumor/Lesion ID Result"),
            Variable("TUSTRESC", "Tumor/Lesion ID Result Std. Format"),
            Variable("TULOC", "Location of the Tumor/Lesion"),
            Variable("TUMETHOD", "Method of Identification"),
            Variable("TUEVAL", "Evaluator"),
            *_VISIT,
            Variable("TUDTC", "Date/Time of Tumor/Lesion Identification"),
        ),
    ),
    "TR": (
        "Tumor/Lesion Results",
        (
            *_COMMON,
            Variable("TRSEQ", "Sequence Number", numeric=True),
            Variable("TRGRPID", "Group ID"),
            Variable("TRLNKID", "Link ID"),
            Variable("TRTESTCD", "Tumor/Lesion Assessment Short Name"),
            Variable("TRTEST", "Tumor/Lesion Assessment Test Name"),
            Variable("TRORRES", "Result or Finding in Original Units"),
            Variable("TRORRESU", "Original Units"),
            Variable("TRSTRESC", "Character Result/Finding in Std Format"),
            Variable("TRSTRESN", "Numeric Result/Finding in Standard Units", numeric=True),
            Variable("TRSTRESU", "Standard Units"),
            Variable("TRSTAT", "Completion Status"),
            Variable("TRREASND", "Reason Not Done"),
            Variable("TRMETHOD", "Method Used to Identify the Tumor"),
            Variable("TREVAL", "Evaluator"),
            *_VISIT,
            Variable("TRDTC", "Date/Time of Tumor/Lesion Measurement"),
        ),
    ),
    "RS": (
        "Disease Response",
        (
            *_COMMON,
            Variable("RSSEQ", "Sequence Number", numeric=True),
            Variable("RSTESTCD", "Assessment Short Name"),
            Variable("RSTEST", "Assessment Name"),
            Variable("RSCAT", "Category for Assessment"),
            Variable("RSORRES", "Result or Finding in Original Units"),
            Variable("RSSTRESC", "Character Result/Finding in Std Format"),
            Variable("RSSTAT", "Completion Status"),
            Variable("RSREASND", "Reason Not Done"),
            Variable("RSEVAL", "Evaluator"),
            *_VISIT,
            Variable("RSDTC", "Date/Time of Assessment"),
        ),
    ),
}


def _check_study_id(study_id: str) -> str:
    if not isinstance(study_id, str) or not study_id.strip():
        raise ReportingInputError("study_id: expected a non-empty study identifier")
    return study_id.strip()


def build_sdtm(
    domain: str,
    subjects: SubjectData | Sequence[SubjectData],
    *,
    study_id: str,
    evaluator: str = "INDEPENDENT ASSESSOR",
    method: str | None = None,
) -> SdtmDataset:
    """Build one SDTM domain (``TU``, ``TR`` or ``RS``) for one subject or a whole trial.

    Parameters
    ----------
    domain
        ``"TU"``, ``"TR"`` or ``"RS"`` (case-insensitive).
    subjects
        One subject, or all subjects of the trial (rows are grouped by subject in that order;
        ``--SEQ`` restarts at 1 for each subject).
    study_id
        ``STUDYID``; ``USUBJID`` is ``STUDYID-SUBJID``.
    evaluator
        ``--EVAL`` of every row.
    method
        ``TUMETHOD``/``TRMETHOD``; by default from the visit's measurement modality
        (``CT SCAN`` or ``MRI``), else ``CT SCAN``.

    Returns
    -------
    SdtmDataset
        Write it with ``.to_csv()`` or ``.to_xpt()``.

    Raises
    ------
    ReportingInputError
        Unknown domain, missing study id, or an invalid assessment.
    """
    key = str(domain).upper()
    if key not in _VARIABLES:
        raise ReportingInputError(f"unknown SDTM domain {domain!r}; expected one of {DOMAINS}")
    study = _check_study_id(study_id)
    people = [subjects] if isinstance(subjects, SubjectData) else list(subjects)
    ids = [s.subject_id for s in people]
    if len(set(ids)) != len(ids):
        raise ReportingInputError("subjects: each subject may appear once")
    label, variables = _VARIABLES[key]
    builder = {"TU": tu_rows, "TR": tr_rows, "RS": rs_rows}[key]
    rows: list[Mapping[str, Value]] = []
    for subject in people:
        subject_rows = builder(subject, evaluator=evaluator, method=method)
        seq_name = f"{key}SEQ"
        for seq, row in enumerate(subject_rows, start=1):
            rows.append(
                {
                    "STUDYID": study,
                    "DOMAIN": key,
                    "USUBJID": f"{study}-{subject.subject_id}",
                    seq_name: float(seq),
                    **row,
                }
            )
    return SdtmDataset(key, label, variables, tuple(rows))
