"""Measurement requests (202 + job), results, and job status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from app.api.deps import BlobsDep, JobsDep, ReadSessionDep, SessionDep, require
from app.api.responses import problems
from app.api.schemas import JobAccepted, JobPublic, MeasurementCreate, VoidedPublic, VoidRequest
from app.auth.keys import Permission, Principal
from app.db import repo
from app.errors import NotFoundError
from app.measure.submit import submit_measurement
from app.subjects import corrections
from app.vocab import JobKind

router = APIRouter(tags=["measurements"])

Reader = Annotated[Principal, Depends(require(Permission.READ))]


@router.post(
    "/v1/measurements",
    status_code=202,
    response_model=JobAccepted,
    summary="Request a measurement",
    responses=problems(401, 403, 404, 422),
)
def request_measurement(
    body: MeasurementCreate,
    principal: Annotated[Principal, Depends(require(Permission.MEASURE))],
    session: SessionDep,
    blobs: BlobsDep,
    jobs: JobsDep,
) -> JSONResponse:
    """Queue a job (an identical earlier request returns its job unless ``force``).

    Answers 202 with ``Location: /v1/jobs/{job_id}``.
    """
    job, created = submit_measurement(
        session, blobs, body.model_dump(exclude={"force"}), principal.actor, force=body.force
    )
    session.commit()
    if created:
        jobs.enqueue(job.id)
    return JSONResponse(
        {"job_id": job.id}, status_code=202, headers={"Location": f"/v1/jobs/{job.id}"}
    )


@router.get(
    "/v1/jobs/{job_id}",
    response_model=JobPublic,
    summary="Job status",
    responses=problems(401, 403, 404),
)
def get_job(job_id: str, _: Reader, session: ReadSessionDep) -> JobPublic:
    """Status, progress 0..1, ``result_url`` when succeeded, ``error`` when failed."""
    job = repo.get_job(session, job_id)
    if job.kind == JobKind.REPROCESS_RUN:  # an admin's run, read at its own route
        raise NotFoundError(
            f"job {job_id!r} is a reprocessing run; expected GET /v1/reprocess/{job_id} (admin)"
        )
    return JobPublic.from_domain(job)


@router.get(
    "/v1/measurements/{measurement_id}",
    summary="A measurement result",
    responses=problems(401, 403, 404),
)
def get_measurement(measurement_id: str, _: Reader, session: ReadSessionDep) -> dict[str, Any]:
    """The ``liverburden measure`` JSON plus its identity, inputs and provenance."""
    m = repo.get_measurement(session, measurement_id)
    return {
        **m.result,
        "measurement_id": m.id,
        "timepoint_id": m.timepoint_id,
        "input_sha256": m.input_sha256,
        "request_sha256": m.request_sha256,
        "version": m.version,
        "segmentation_ref": m.segmentation_ref,
        "job_id": m.job_id,
        "created_at": m.created_at.isoformat(),
        "created_by": m.created_by,
    }


@router.delete(
    "/v1/measurements/{measurement_id}",
    response_model=VoidedPublic,
    summary="Void a measurement (kept, audited, left out of every reading)",
    responses=problems(401, 403, 404, 422),
)
def void_measurement(
    measurement_id: str,
    body: VoidRequest,
    principal: Annotated[Principal, Depends(require(Permission.MANAGE_SUBJECTS))],
    session: SessionDep,
) -> VoidedPublic:
    """The timepoint's burden and outputs fall back to its previous measurement, if any."""
    m = repo.get_measurement(session, measurement_id)
    corrections.void_measurement(session, m, reason=body.reason, actor=principal.actor)
    session.commit()
    return VoidedPublic.from_domain("measurement", m.id, m)
