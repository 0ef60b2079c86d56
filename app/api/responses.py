"""OpenAPI documentation of the problem+json answers a route may give."""

from __future__ import annotations

from typing import Any

__all__ = ["problems"]

_EXAMPLES = {
    400: (
        "urn:liverburden:problem:unsafe-archive",
        "Unsafe or unreadable archive",
        "archive member name contains '..' (zip slip); expected names inside",
    ),
    401: (
        "urn:liverburden:problem:unauthenticated",
        "Missing or invalid API key",
        "missing Authorization header; expected 'Bearer <api key>'",
    ),
    403: (
        "urn:liverburden:problem:forbidden",
        "Not allowed for this role",
        "the edc role may not upload",
    ),
    404: ("urn:liverburden:problem:not-found", "Not found", "no subject 'S-404'"),
    409: (
        "urn:liverburden:problem:instance-conflict",
        "Conflicting DICOM instance",
        "SOP Instance UID 1.2.3 is stored with different content",
    ),
    413: (
        "urn:liverburden:problem:upload-too-large",
        "Upload too large",
        "request body is larger than the limit",
    ),
    415: (
        "urn:liverburden:problem:not-dicom",
        "Not a DICOM file",
        "notes.txt is not a DICOM file; expected a DICOM Part 10 file",
    ),
    422: (
        "urn:liverburden:problem:invalid-request",
        "Invalid request",
        "give exactly one of segmentation_sop_instance_uid or segmentation_upload_id",
    ),
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the given statuses, each an RFC 9457 example."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        type_, title, detail = _EXAMPLES[status]
        out[status] = {
            "description": title,
            "content": {
                "application/problem+json": {
                    "example": {"type": type_, "title": title, "status": status, "detail": detail}
                }
            },
        }
    return out
