"""Errors of the service layer, and the ONE table mapping every domain error to HTTP.

Every error a request can meet is answered as RFC 9457 ``application/problem+json`` with
``type``, ``title``, ``status`` and ``detail``; the status and type come from :data:`PROBLEMS`,
looked up along the exception's MRO (most specific class first). A test walks every error class of
dicomio, volumetrics, recist, reporting, segmentation and app and checks that each one has its own
row here.

::

    AppError
     +-- AuthenticationError: no, malformed, unknown or revoked API key (401)
     +-- PermissionDeniedError: the key's role may not do this (403)
     +-- NotFoundError (also LookupError): no such subject, timepoint, job, ... (404)
     +-- ConflictError: the request contradicts stored state (409)
     |    +-- InstanceConflictError (also ValueError): same SOP Instance UID, different content
     |    +-- AlreadyExistsError: the subject or timepoint exists already
     +-- UploadTooLargeError (also ValueError): the body or an archive is over the limits (413)
     +-- UnsupportedMediaError (also ValueError): a file type this route does not accept (415)
     +-- InvalidRequestError (also ValueError): well-formed but unusable request (422)
 +-- InsufficientStorageError (also OSError): the blob folder's file system is full (507)
 +-- NotAcceptableError: no representation the Accept header allows (406)

References
----------
RFC 9457, Problem Details for HTTP APIs. https://www.rfc-editor.org/rfc/rfc9457
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dicomio import errors as dio
from recist import errors as rec
from reporting import errors as rep
from segmentation import errors as sgm
from volumetrics import errors as vol

__all__ = [
    "PROBLEMS",
    "PROBLEM_TYPE_PREFIX",
    "AlreadyExistsError",
    "AppError",
    "AuthenticationError",
    "ConflictError",
    "InstanceConflictError",
    "InsufficientStorageError",
    "InvalidRequestError",
    "NotAcceptableError",
    "NotFoundError",
    "PermissionDeniedError",
    "Problem",
    "UnsupportedMediaError",
    "UploadTooLargeError",
    "problem_body",
    "problem_for",
]

PROBLEM_TYPE_PREFIX = "urn:liverburden:problem:"


class AppError(Exception):
    """Base class of every error raised by the service layer."""


class AuthenticationError(AppError):
    """No, malformed, unknown or revoked API key."""


class PermissionDeniedError(AppError):
    """The API key's role may not use this route."""


class NotFoundError(AppError, LookupError):
    """A subject, timepoint, series, job, measurement, ... does not exist."""


class ConflictError(AppError):
    """The request contradicts what is stored."""


class InstanceConflictError(ConflictError, ValueError):
    """An instance with this SOP Instance UID is stored with different content."""


class AlreadyExistsError(ConflictError):
    """The subject, timepoint or other named record exists already."""


class UploadTooLargeError(AppError, ValueError):
    """The request body, or an archive inside it, is over the configured limits."""


class UnsupportedMediaError(AppError, ValueError):
    """A file of a type this route does not accept."""


class InvalidRequestError(AppError, ValueError):
    """A well-formed request that cannot be carried out as asked."""


class InsufficientStorageError(AppError, OSError):
    """The blob folder's file system is full (or a quota or file size limit is reached).

    Also an :class:`OSError`, so code that treats any write failure as "out of resources" (the
    STOW-RS failure reason A700) keeps doing so.
    """


class NotAcceptableError(AppError):
    """No representation the ``Accept`` header allows can be produced (DICOMweb retrieve)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """How one error class is answered: HTTP status, problem type slug and title."""

    status: int
    slug: str
    title: str

    @property
    def type(self) -> str:
        """The problem type URI."""
        return PROBLEM_TYPE_PREFIX + self.slug


#: The one mapping of domain errors to HTTP answers. Every error class has its own row.
PROBLEMS: dict[type[BaseException], Problem] = {
    # app
    AppError: Problem(400, "bad-request", "Bad request"),
    AuthenticationError: Problem(401, "unauthenticated", "Missing or invalid API key"),
    PermissionDeniedError: Problem(403, "forbidden", "Not allowed for this role"),
    NotFoundError: Problem(404, "not-found", "Not found"),
    ConflictError: Problem(409, "conflict", "Conflict with stored state"),
    InstanceConflictError: Problem(409, "instance-conflict", "Conflicting DICOM instance"),
    AlreadyExistsError: Problem(409, "already-exists", "Already exists"),
    UploadTooLargeError: Problem(413, "upload-too-large", "Upload too large"),
    UnsupportedMediaError: Problem(415, "unsupported-media-type", "Unsupported file type"),
    InvalidRequestError: Problem(422, "invalid-request", "Invalid request"),
    InsufficientStorageError: Problem(507, "insufficient-storage", "Insufficient storage"),
    NotAcceptableError: Problem(406, "not-acceptable", "No acceptable representation"),
    # dicomio
    dio.DicomIOError: Problem(422, "dicom-input", "Unusable imaging input"),
    dio.InputNotFoundError: Problem(422, "input-not-found", "Input not found"),
    dio.NotDicomError: Problem(415, "not-dicom", "Not a DICOM file"),
    dio.CorruptFileError: Problem(422, "corrupt-file", "Corrupt file"),
    dio.UnsupportedError: Problem(422, "unsupported-dicom", "Unsupported DICOM object"),
    dio.SeriesSelectionError: Problem(422, "series-selection", "Series selection failed"),
    dio.GeometryError: Problem(422, "geometry", "Unusable image geometry"),
    dio.LabelError: Problem(422, "label", "Segmentation does not fit the series"),
    dio.ArchiveError: Problem(400, "unsafe-archive", "Unsafe or unreadable archive"),
    dio.ElementNotFoundError: Problem(404, "dicom-element-not-found", "Not in the DICOM instance"),
    # volumetrics
    vol.VolumetricsError: Problem(422, "volumetrics", "Volumetric measurement failed"),
    vol.MaskError: Problem(422, "mask", "Unusable mask"),
    # recist
    rec.RecistError: Problem(422, "recist", "RECIST assessment failed"),
    rec.RecistInputError: Problem(422, "recist-input", "Invalid RECIST input"),
    rec.MeasurementError: Problem(422, "recist-measurement", "Lesion cannot be measured"),
    # reporting
    rep.ReportingError: Problem(422, "reporting", "Output cannot be built"),
    rep.ReportingInputError: Problem(422, "reporting-input", "Invalid input for this output"),
    rep.SourceImageError: Problem(422, "source-images", "Source images do not fit"),
    rep.MissingDependencyError: Problem(
        501, "output-unavailable", "This output format is not available on this server"
    ),
    # segmentation (semi-automatic: app.autoseg.autoseg)
    sgm.SegmentationError: Problem(422, "segmentation", "Segmentation failed"),
    sgm.SegmentationInputError: Problem(
        422, "segmentation-input", "Image unusable for segmentation"
    ),
    sgm.SeedError: Problem(422, "segmentation-seed", "Seed cannot start a segmentation"),
    sgm.ImplausibleResultError: Problem(
        422, "segmentation-implausible", "Implausible segmentation result"
    ),
}

INTERNAL = Problem(500, "internal-error", "Internal server error")


def problem_for(exc: BaseException) -> Problem:
    """Return the row of :data:`PROBLEMS` for ``exc`` (its most specific mapped class), else 500."""
    for cls in type(exc).__mro__:
        found = PROBLEMS.get(cls)
        if found is not None:
            return found
    return INTERNAL


def problem_body(problem: Problem, detail: str, **extra: Any) -> dict[str, Any]:
    """Return an RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": detail,
    }
    body.update(extra)
    return body
