"""Shared pieces of the DICOMweb routes: media type, permissions, URL root, OpenAPI answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from app.api.deps import require
from app.api.responses import problems
from app.auth.keys import Permission, Principal

__all__ = [
    "DICOM_DOC",
    "DICOM_JSON",
    "META_DOC",
    "OCTETS_DOC",
    "QIDO_DOC",
    "STOW_BODY",
    "STOW_DOC",
    "ReadDicom",
    "Upload",
    "dicomweb_base",
]

DICOM_JSON = "application/dicom+json"
#: WADO-RS and QIDO-RS need ``read_dicom``; STOW-RS needs ``upload`` (radiologists only).
ReadDicom = Annotated[Principal, Depends(require(Permission.READ_DICOM))]
Upload = Annotated[Principal, Depends(require(Permission.UPLOAD))]


def _doc(media_type: str, description: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    out = problems(*statuses)
    out[200] = {"description": description, "content": {media_type: {}}}
    return out


STOW_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            'multipart/related; type="application/dicom"': {
                "schema": {"type": "string", "format": "binary"},
            }
        },
    }
}
STOW_DOC = _doc(DICOM_JSON, "All instances stored (or stored already)", 401, 403, 413, 415, 422)
STOW_DOC[202] = {"description": "Some instances stored, others failed (FailedSOPSequence)"}
STOW_DOC[409] = {"description": "No instance stored; the body lists why (FailedSOPSequence)"}
QIDO_DOC = _doc(DICOM_JSON, "Matching DICOM JSON datasets", 401, 403, 422)
DICOM_DOC = _doc('multipart/related; type="application/dicom"', "Instances", 401, 403, 404)
META_DOC = _doc(DICOM_JSON, "DICOM JSON metadata, bulk data as BulkDataURI", 401, 403, 404)
OCTETS_DOC = _doc(
    'multipart/related; type="application/octet-stream"', "Uncompressed bytes", 401, 403, 404, 422
)


_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def dicomweb_base(request: Request) -> str:
    """The absolute ``/dicomweb`` root for RetrieveURL and BulkDataURI values.

    Built from the request's Host header; a direct client that sends a Host without its port
    (dicomweb-client does) gets the port the server listens on. Behind a proxy the Host is kept.
    """
    url = request.base_url
    server = request.scope.get("server")
    direct = not any(h in request.headers for h in _PROXY_HEADERS)
    if direct and url.port is None and server and server[1] != _DEFAULT_PORTS.get(url.scheme):
        url = url.replace(port=int(server[1]))
    return str(url).rstrip("/") + "/dicomweb"
