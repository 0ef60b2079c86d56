"""The STOW-RS store response: which instances are stored, which failed and why.

References
----------
DICOM PS3.18 section 10.5.3 (Store Instances Response Module: Referenced SOP Sequence
(0008,1199), Failed SOP Sequence (0008,1198), Failure Reason (0008,1197), Retrieve URL
(0008,1190)) and Table 10.5.3-1 (200 all stored, 202 some failed, 409 none stored).
"""

from __future__ import annotations

from typing import Any

from app.api.dicomweb.stow import StowResult
from dicomio.instance import InstanceHeader

__all__ = ["store_response"]


def _el(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def _sop(header: InstanceHeader | None) -> dict[str, Any]:
    if header is None:  # not DICOM: nothing to reference
        return {"00081150": _el("UI"), "00081155": _el("UI")}
    return {
        "00081150": _el("UI", header.sop_class_uid) if header.sop_class_uid else _el("UI"),
        "00081155": _el("UI", header.sop_instance_uid),
    }


def store_response(result: StowResult, base: str) -> tuple[dict[str, Any], int]:
    """The DICOM JSON store response and its HTTP status."""
    body: dict[str, Any] = {}
    referenced = []
    for h in result.referenced:
        url = (
            f"{base}/studies/{h.study_instance_uid}/series/{h.series_instance_uid}"
            f"/instances/{h.sop_instance_uid}"
        )
        referenced.append({**_sop(h), "00081190": _el("UR", url)})
    failed = [{**_sop(h), "00081197": _el("US", reason)} for h, reason in result.failed]
    studies = {h.study_instance_uid for h in result.referenced}
    if len(studies) == 1:
        body["00081190"] = _el("UR", f"{base}/studies/{studies.pop()}")
    if failed:
        body["00081198"] = _el("SQ", *failed)
    if referenced:
        body["00081199"] = _el("SQ", *referenced)
    status = 200 if not failed else 202 if referenced else 409
    return body, status
