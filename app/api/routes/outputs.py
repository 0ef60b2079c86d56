"""Outputs for other systems (contracts/http.md "Outputs"): DICOM SR/SEG, SDTM, FHIR, the report.

Who may read what (the permissions of app.auth.keys): DICOM objects and the report (it shows key
images, i.e. pixel data) need ``read_dicom``; the FHIR bundle and SDTM TU/TR (lesion-level
readings) need ``read``; SDTM RS (the response summary) needs ``read_summary``, so an EDC key
reads RS only. Every answer carries its provenance in ``X-Liverburden-Algorithm-Version`` and
``X-Liverburden-Input-SHA256`` and is recorded in the audit trail. The routes are plain ``def``:
building these outputs is CPU-bound and runs in the thread pool.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from app.api.deps import BlobsDep, ReadSessionDep, SessionDep, SettingsDep, require
from app.api.responses import problems
from app.auth.keys import Permission, Principal, check_permission
from app.outputs import outputs
from app.outputs.outputs import Output
from app.settings import STUDY_ID_PATTERN

router = APIRouter(tags=["outputs"])

DicomReader = Annotated[Principal, Depends(require(Permission.READ_DICOM))]
Reader = Annotated[Principal, Depends(require(Permission.READ))]
SummaryReader = Annotated[Principal, Depends(require(Permission.READ_SUMMARY))]


class SdtmDomain(enum.StrEnum):
    """SDTM domains of RECIST 1.1 (tumour identification, tumour results, disease response)."""

    TU = "tu"
    TR = "tr"
    RS = "rs"


class SdtmFormat(enum.StrEnum):
    CSV = "csv"
    XPT = "xpt"


class ReportFormat(enum.StrEnum):
    HTML = "html"
    PDF = "pdf"


#: The permission each SDTM domain needs (RS is a response summary; TU/TR hold lesion readings).
SDTM_PERMISSION = {
    SdtmDomain.TU: Permission.READ,
    SdtmDomain.TR: Permission.READ,
    SdtmDomain.RS: Permission.READ_SUMMARY,
}

StudyQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=40,
        pattern=STUDY_ID_PATTERN,
        description=(
            "STUDYID of the rows (letters, digits, '_' and '-'); default: the service's "
            "LIVERBURDEN_STUDY_ID setting."
        ),
    ),
]
FormatQuery = Annotated[SdtmFormat, Query(alias="format", description="csv or xpt (SAS v5).")]

#: Skipped subjects named in a header (the count header always has them all).
_MAX_LISTED = 50

_DICOM: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/dicom": {}}, "description": "DICOM Part 10 file"}
}
_SDTM: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {}, "application/x-sas-xport": {}},
        "description": "The SDTM dataset",
    }
}


def _sdtm_format(fmt: SdtmFormat) -> Literal["csv", "xpt"]:
    return "xpt" if fmt is SdtmFormat.XPT else "csv"


def _response(out: Output) -> Response:
    disposition = "attachment" if out.attachment else "inline"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{out.filename}"',
        "X-Liverburden-Algorithm-Version": out.algorithm_version,
        "X-Liverburden-Input-SHA256": out.input_sha256,
    }
    if out.skipped:
        headers["X-Liverburden-Skipped-Count"] = str(len(out.skipped))
        headers["X-Liverburden-Skipped-Subjects"] = ",".join(out.skipped[:_MAX_LISTED])
    return Response(content=out.content, media_type=out.media_type, headers=headers)


@router.get(
    "/v1/measurements/{measurement_id}/sr",
    summary="DICOM SR (TID 1500) of a measurement",
    response_class=Response,
    responses={**_DICOM, **problems(401, 403, 404, 409, 422)},
)
def get_sr(
    measurement_id: str,
    principal: DicomReader,
    session: SessionDep,
    blobs: BlobsDep,
    settings: SettingsDep,
) -> Response:
    """The measurement report: one group per lesion (long axis, short axis, volume, region),
    liver volume and burden, the timepoint's RECIST response when the subject is assessable;
    it references the source series."""
    out = outputs.measurement_sr(
        session, blobs, settings.resolved_home / "tmp", measurement_id, principal.actor
    )
    session.commit()
    return _response(out)


@router.get(
    "/v1/measurements/{measurement_id}/seg",
    summary="DICOM SEG of a measurement",
    response_class=Response,
    responses={**_DICOM, **problems(401, 403, 404, 409, 422)},
)
def get_seg(
    measurement_id: str,
    principal: DicomReader,
    session: SessionDep,
    blobs: BlobsDep,
    settings: SettingsDep,
) -> Response:
    """BINARY segmentation of the liver and one segment per lesion, on the source series."""
    out = outputs.measurement_seg(
        session, blobs, settings.resolved_home / "tmp", measurement_id, principal.actor
    )
    session.commit()
    return _response(out)


@router.get(
    "/v1/subjects/{subject_id}/sdtm/{domain}",
    summary="CDISC SDTM TU, TR or RS of a subject",
    response_class=Response,
    responses={**_SDTM, **problems(401, 403, 404, 422)},
)
def get_subject_sdtm(
    subject_id: str,
    domain: SdtmDomain,
    principal: SummaryReader,
    session: SessionDep,
    settings: SettingsDep,
    fmt: FormatQuery = SdtmFormat.CSV,
    study_id: StudyQuery = None,
) -> Response:
    """RECIST 1.1 rows of the subject's lesion table and measurements (an EDC key: RS only)."""
    check_permission(principal, SDTM_PERMISSION[domain])
    study = study_id or settings.study_id
    out = outputs.subject_sdtm(
        session, subject_id, domain.value, _sdtm_format(fmt), study, principal.actor
    )
    session.commit()
    return _response(out)


@router.get(
    "/v1/sdtm-left-out",
    summary="Subjects the trial-wide outputs leave out, and why",
    responses=problems(401, 403),
)
def get_trial_left_out(_: SummaryReader, session: ReadSessionDep) -> list[dict[str, str]]:
    """One entry per live subject that ``/v1/sdtm/{domain}`` leaves out: its id and the reason
    (no baseline, no lesion table, a record the RECIST engine refuses), so nobody is dropped
    silently."""
    return outputs.trial_left_out(session)


@router.get(
    "/v1/sdtm/adtte",
    summary="ADaM ADTTE of the hepatic progression-free interval (PARAMCD HPFS)",
    response_class=Response,
    responses={**_SDTM, **problems(401, 403, 422)},
)
def get_trial_adtte(
    principal: SummaryReader,
    session: SessionDep,
    settings: SettingsDep,
    fmt: FormatQuery = SdtmFormat.CSV,
    study_id: StudyQuery = None,
) -> Response:
    """One row per live subject (STUDYID, USUBJID, PARAMCD, PARAM, STARTDT, ADT, AVAL, CNSR,
    EVNTDESC, CNSDTDSC, ARM); subjects without a start or with a record the RECIST engine refuses
    are left out: ``X-Liverburden-Skipped-Count`` / ``-Subjects``, reasons in the audit trail."""
    out = outputs.trial_adtte(
        session, _sdtm_format(fmt), study_id or settings.study_id, principal.actor
    )
    session.commit()
    return _response(out)


@router.get(
    "/v1/sdtm/{domain}",
    summary="CDISC SDTM TU, TR or RS of the whole trial",
    response_class=Response,
    responses={**_SDTM, **problems(401, 403, 422)},
)
def get_trial_sdtm(
    domain: SdtmDomain,
    principal: SummaryReader,
    session: SessionDep,
    settings: SettingsDep,
    fmt: FormatQuery = SdtmFormat.CSV,
    study_id: StudyQuery = None,
) -> Response:
    """Every assessable subject's rows, by subject id; subjects without a baseline or lesion
    table are left out: ``X-Liverburden-Skipped-Count``, and the first 50 in
    ``X-Liverburden-Skipped-Subjects``."""
    check_permission(principal, SDTM_PERMISSION[domain])
    study = study_id or settings.study_id
    out = outputs.trial_sdtm(session, domain.value, _sdtm_format(fmt), study, principal.actor)
    session.commit()
    return _response(out)


@router.get(
    "/v1/subjects/{subject_id}/fhir",
    summary="FHIR R4 Bundle of mCODE tumour-size observations",
    response_class=Response,
    responses={
        200: {"content": {"application/fhir+json": {}}, "description": "A FHIR R4 Bundle"},
        **problems(401, 403, 404, 422),
    },
)
def get_fhir(subject_id: str, principal: Reader, session: SessionDep) -> Response:
    """One Observation per measured lesion per timepoint (latest measurement of each)."""
    out = outputs.subject_fhir(session, subject_id, principal.actor)
    session.commit()
    return _response(out)


@router.get(
    "/v1/subjects/{subject_id}/report",
    summary="The subject report (HTML or PDF)",
    response_class=Response,
    responses={
        200: {
            "content": {"text/html": {}, "application/pdf": {}},
            "description": "The report",
        },
        **problems(401, 403, 404, 409, 422),
    },
)
def get_report(
    subject_id: str,
    principal: DicomReader,
    session: SessionDep,
    blobs: BlobsDep,
    settings: SettingsDep,
    fmt: Annotated[ReportFormat, Query(alias="format", description="html or pdf.")] = (
        ReportFormat.HTML
    ),
    key_images: Annotated[bool, Query(description="Include the lesions' key images.")] = True,
    study_id: Annotated[
        str,
        Query(
            max_length=64, description="Trial shown in the header (default LIVERBURDEN_STUDY_ID)."
        ),
    ] = "",
) -> Response:
    """Timepoint table with sums and responses, lesions, key images, plots, algorithm version
    and input hashes; HTML is one self-contained page (images as data URIs)."""
    out = outputs.subject_report(
        session,
        blobs,
        settings.resolved_home / "tmp",
        subject_id,
        "pdf" if fmt is ReportFormat.PDF else "html",
        principal.actor,
        study_id=study_id or settings.study_id,
        with_key_images=key_images,
    )
    session.commit()
    return _response(out)


@router.get(
    "/v1/trial/report",
    summary="The trial view: eligibility, H-PFS by arm (Kaplan-Meier), responses, burden",
    response_class=Response,
    responses={
        200: {
            "content": {"text/html": {}, "application/pdf": {}},
            "description": "The trial report",
        },
        **problems(401, 403, 422),
    },
)
def get_trial_report(
    principal: SummaryReader,
    session: SessionDep,
    settings: SettingsDep,
    fmt: Annotated[ReportFormat, Query(alias="format", description="html or pdf.")] = (
        ReportFormat.HTML
    ),
    study_id: StudyQuery = None,
) -> Response:
    """Every live subject's imaging eligibility, Kaplan-Meier curves of the hepatic
    progression-free interval by arm with numbers at risk, median H-PFS with its 95 % CI per
    arm, the waterfall of best hepatic response and the baseline burden against 25 % / 70 %
    (no pixel data: EDC keys may read it)."""
    out = outputs.trial_report(
        session,
        "pdf" if fmt is ReportFormat.PDF else "html",
        study_id or settings.study_id,
        principal.actor,
    )
    session.commit()
    return _response(out)
