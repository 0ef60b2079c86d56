"""OpenAPI documentation of the problem+json answers a route may give."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

__all__ = ["PROBLEM_SCHEMA", "install_openapi_defaults", "problems"]

#: JSON schema of an RFC 9457 problem document as this service writes it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
}
_BAD_BODY = (
    "urn:liverburden:problem:bad-request",
    "Bad request",
    "There was an error parsing the body",
)

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
                    "schema": PROBLEM_SCHEMA,
                    "example": {"type": type_, "title": title, "status": status, "detail": detail},
                }
            },
        }
    return out


def _bad_body() -> dict[str, Any]:
    type_, title, detail = _BAD_BODY
    example = {"type": type_, "title": title, "status": 400, "detail": detail}
    return {
        "description": "The body cannot be parsed (not UTF-8, not a form, ...)",
        "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA, "example": example}},
    }


def install_openapi_defaults(app: FastAPI) -> None:
    """Document the problems every route may give, whatever its ``responses=`` says.

    FastAPI's generated schema lists validation errors (422) as ``application/json``
    ``HTTPValidationError``, but they are answered as problem+json (app.api.problems); and a
    body that cannot be parsed at all is a 400 on any route that takes one.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI after the first call; edited in place once
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                invalid = responses.get("422")
                if invalid is not None and "application/problem+json" not in invalid.get(
                    "content", {}
                ):
                    responses["422"] = problems(422)[422]
                if "requestBody" in operation and "400" not in responses:
                    responses["400"] = _bad_body()
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
