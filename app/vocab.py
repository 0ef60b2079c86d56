"""The service's shared words: roles, permissions, job kinds and states.

Who holds a key (:class:`Role`), what a route needs (:class:`Permission`), and a job's kind and
state (:class:`JobKind`, :class:`JobStatus`). Only
:mod:`enum` is imported, so the command line can name roles without loading the database layer;
:mod:`app.auth.keys` holds the one table of which role may do what.
"""

from __future__ import annotations

import enum

__all__ = ["JobKind", "JobStatus", "MeasurementOrigin", "Permission", "Role"]


class Role(enum.StrEnum):
    """Who holds a key."""

    RADIOLOGIST = "radiologist"
    EDC = "edc"
    ADMIN = "admin"


class Permission(enum.StrEnum):
    """What a route needs."""

    UPLOAD = "upload"  #: store DICOM and label maps (REST uploads, STOW-RS)
    MANAGE_SUBJECTS = "manage_subjects"  #: create subjects and timepoints
    MEASURE = "measure"  #: submit measurement jobs
    SEGMENT = "segment"  #: run semi-automatic segmentation and store its result (app.autoseg)
    EDIT_LESIONS = "edit_lesions"  #: record the lesion table and its measurements
    READ = "read"  #: read measurements, jobs, subjects, lesions (no pixels)
    READ_DICOM = "read_dicom"  #: read pixel data and DICOM (WADO-RS, QIDO-RS)
    ASSESS = "assess"  #: run the RECIST engine on posted input
    READ_SUMMARY = "read_summary"  #: burden, eligibility and response summaries
    MANAGE_KEYS = "manage_keys"  #: create, list and revoke API keys
    READ_AUDIT = "read_audit"  #: read and verify the audit trail
    REPROCESS = "reprocess"  #: re-measure the service's measurements under this version
    ADOPT = "adopt"  #: switch the service to a reprocessed algorithm version's results


class JobKind(enum.StrEnum):
    """What a job runs (``jobs.kind``)."""

    MEASUREMENT = "measurement"  #: one measurement request (app.measure)
    BATCH = "batch"  #: one row of a ``liverburden batch`` run on the Celery workers
    REPROCESS = "reprocess"  #: a stored measurement re-measured under this algorithm version
    REPROCESS_RUN = "reprocess_run"  #: a POST /v1/reprocess: its rows, progress and report


class MeasurementOrigin(enum.StrEnum):
    """Why a measurement exists (``measurements.origin``)."""

    REQUEST = "request"  #: someone asked for it (API, CLI, the demo)
    REPROCESS = "reprocess"  #: re-measured under a later version; served once it is adopted


class JobStatus(enum.StrEnum):
    """Where a job is (``jobs.status``): queued -> running -> succeeded | failed."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        """Whether the job is over (nothing will run it again)."""
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED)
