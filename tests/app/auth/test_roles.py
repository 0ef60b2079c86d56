"""Every registered route x every role (and no key) against the one expected permission table."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI

from app.auth.keys import ROLE_PERMISSIONS, Role
from tests.app.conftest import ROLES, Service

#: Routes anyone may call (no key).
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
}
R, E, A = "radiologist", "edc", "admin"
#: Who may call each route (contracts/http.md "Roles"). A new route must be added here.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("POST", "/v1/uploads"): {R},
    ("GET", "/v1/studies"): {R},
    ("POST", "/v1/subjects"): {R},
    ("GET", "/v1/subjects"): {R},
    ("GET", "/v1/subjects/{subject_id}"): {R},
    ("POST", "/v1/subjects/{subject_id}/timepoints"): {R},
    ("GET", "/v1/subjects/{subject_id}/timepoints"): {R},
    ("PUT", "/v1/subjects/{subject_id}/lesions"): {R},
    ("GET", "/v1/subjects/{subject_id}/lesions"): {R},
    ("PUT", "/v1/subjects/{subject_id}/timepoints/{timepoint_id}/lesions"): {R},
    ("POST", "/v1/subjects/{subject_id}/timepoints/{timepoint_id}/lesions/confirm"): {R},
    ("POST", "/v1/subjects/{subject_id}/timepoints/{timepoint_id}/lesions/track"): {R},
    # Corrections (contracts/trial-record.md): a reason each, audited.
    ("PATCH", "/v1/subjects/{subject_id}/timepoints/{timepoint_id}"): {R},
    ("DELETE", "/v1/subjects/{subject_id}/timepoints/{timepoint_id}"): {R},
    ("DELETE", "/v1/subjects/{subject_id}"): {R},
    ("PATCH", "/v1/subjects/{subject_id}"): {R},
    ("DELETE", "/v1/measurements/{measurement_id}"): {R},
    ("PUT", "/v1/subjects/{subject_id}/timepoints/{timepoint_id}/record"): {R},
    ("POST", "/v1/segmentations"): {R},
    ("POST", "/v1/segmentations/auto/liver"): {R},
    ("POST", "/v1/segmentations/auto/lesion"): {R},
    ("POST", "/v1/measurements"): {R},
    ("GET", "/v1/jobs/{job_id}"): {R},
    ("GET", "/v1/measurements/{measurement_id}"): {R},
    ("POST", "/v1/recist/assess"): {R},
    ("GET", "/v1/subjects/{subject_id}/assessment"): {R, E},
    ("GET", "/v1/subjects/{subject_id}/eligibility"): {R, E},
    ("GET", "/v1/subjects/{subject_id}/burden"): {R, E},
    ("GET", "/v1/subjects/{subject_id}/endpoints"): {R, E},
    ("POST", "/v1/keys"): {A},
    ("GET", "/v1/keys"): {A},
    ("DELETE", "/v1/keys/{key_id}"): {A},
    ("GET", "/v1/audit/events"): {A},
    ("GET", "/v1/audit/verify"): {A},
    ("POST", "/v1/algorithm-versions/{version}/adopt"): {A},
    ("POST", "/v1/reprocess"): {A},
    ("GET", "/v1/reprocess/{run_id}"): {A},
    ("GET", "/v1/reprocess/{run_id}/report"): {A},
    # Outputs: DICOM and the report (key images are pixel data) for radiologists; SDTM per domain
    # (TU/TR lesion rows need "read", RS the response summary: the route answers EDC keys for RS
    # only, see tests/app/outputs/test_outputs.py); FHIR lesion observations for radiologists.
    ("GET", "/v1/measurements/{measurement_id}/sr"): {R},
    ("GET", "/v1/measurements/{measurement_id}/seg"): {R},
    ("GET", "/v1/subjects/{subject_id}/sdtm/{domain}"): {R, E},
    ("GET", "/v1/sdtm/{domain}"): {R, E},
    ("GET", "/v1/sdtm-left-out"): {R, E},
    ("GET", "/v1/sdtm/adtte"): {R, E},
    ("GET", "/v1/trial/report"): {R, E},
    ("GET", "/v1/subjects/{subject_id}/fhir"): {R},
    ("GET", "/v1/subjects/{subject_id}/report"): {R},
    # DICOMweb (PS3.18): pixel data and DICOM are for radiologists only.
    ("POST", "/dicomweb/studies"): {R},
    ("POST", "/dicomweb/studies/{study}"): {R},
    ("GET", "/dicomweb/studies"): {R},
    ("GET", "/dicomweb/series"): {R},
    ("GET", "/dicomweb/instances"): {R},
    ("GET", "/dicomweb/studies/{study}/series"): {R},
    ("GET", "/dicomweb/studies/{study}/instances"): {R},
    ("GET", "/dicomweb/studies/{study}/series/{series}/instances"): {R},
    ("GET", "/dicomweb/studies/{study}"): {R},
    ("GET", "/dicomweb/studies/{study}/metadata"): {R},
    ("GET", "/dicomweb/studies/{study}/series/{series}"): {R},
    ("GET", "/dicomweb/studies/{study}/series/{series}/metadata"): {R},
    ("GET", "/dicomweb/studies/{study}/series/{series}/instances/{instance}"): {R},
    ("GET", "/dicomweb/studies/{study}/series/{series}/instances/{instance}/metadata"): {R},
    ("GET", "/dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/{frames}"): {R},
    ("GET", "/dicomweb/studies/{study}/series/{series}/instances/{instance}/bulkdata/{tag}"): {R},
}


def registered_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route the application serves, HEAD excluded."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.160 (included routers)

        routes = list(iter_route_contexts(app.routes))
    except ImportError:
        routes = list(app.routes)  # type: ignore[arg-type]
    for route in routes:
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                yield str(method), str(route.path)


def test_every_route_is_in_the_permission_table(service: Service) -> None:
    """Each registered route is either public or listed with the roles that may call it."""
    routes = set(registered_routes(service.server.app))
    unlisted = sorted(routes - PUBLIC - set(EXPECTED))
    assert not unlisted, f"routes missing from the permission table: {unlisted}"
    assert not sorted(set(EXPECTED) - routes), "table lists routes the app does not serve"


def test_role_permissions_match_the_contract() -> None:
    """EDC keys get summaries only; admin keys get keys and audit, and (issue 18: an explicit
    admin action) the adoption of a reprocessed algorithm version; no measurement data."""
    assert {p.value for p in ROLE_PERMISSIONS[Role.EDC]} == {"read_summary"}
    assert {p.value for p in ROLE_PERMISSIONS[Role.ADMIN]} == {
        "manage_keys",
        "read_audit",
        "reprocess",
        "adopt",
    }


def test_every_route_times_every_role(service: Service) -> None:
    """No key -> 401, a role not in the table -> 403, an allowed role -> neither (all routes)."""
    clients = {role: service.client(role) for role in ROLES}
    clients["none"] = service.client(None)
    failures = []
    for method, template in sorted(set(registered_routes(service.server.app))):
        path = re.sub(r"\{[^}]+\}", "x", template)
        for who, client in clients.items():
            status = client.request(method, path).status_code
            if (method, template) in PUBLIC:
                expected_ok = True
            elif who == "none":
                expected_ok = False
                if status != 401:
                    failures.append(f"{method} {template} without key: {status}, expected 401")
                continue
            else:
                expected_ok = who in EXPECTED[(method, template)]
            if expected_ok and status in (401, 403):
                failures.append(f"{method} {template} as {who}: {status}, expected access")
            if not expected_ok and status != 403:
                failures.append(f"{method} {template} as {who}: {status}, expected 403")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Basic abc", "Bearer lbk_000000000000_" + "A" * 43, "Bearer not-a-key"],
    ids=["empty", "no-token", "basic", "unknown-key", "malformed"],
)
def test_bad_keys_get_401_problem(service: Service, header: str) -> None:
    """A missing, malformed or unknown key is a 401 problem+json with WWW-Authenticate."""
    client = service.client(None)
    r = client.get("/v1/subjects", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers.get("www-authenticate") == "Bearer"
    assert r.json()["type"].endswith("unauthenticated")


def test_revoked_key_gets_401(service: Service) -> None:
    """A revoked key stops working at once."""
    admin = service.client("admin")
    created = admin.post("/v1/keys", json={"role": "edc", "name": "temp"}).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert service.client(None).get("/v1/subjects/x/burden", headers=headers).status_code == 404
    assert admin.delete(f"/v1/keys/{created['key_id']}").status_code == 200
    assert service.client(None).get("/v1/subjects/x/burden", headers=headers).status_code == 401


def test_healthz_needs_no_key(service: Service) -> None:
    """``GET /healthz`` answers without a key."""
    r = service.client(None).get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_openapi_documents_every_route(service: Service) -> None:
    """/docs serves; every protected operation has a summary, bearer security and a 401 example."""
    client = service.client(None)
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert set(EXPECTED) <= documented
    for method, path in EXPECTED:
        op = spec["paths"][path][method.lower()]
        assert op.get("summary"), f"{method} {path} has no summary"
        assert op.get("security"), f"{method} {path} does not declare bearer security"
        example = op["responses"]["401"]["content"]["application/problem+json"]["example"]
        assert example["status"] == 401
