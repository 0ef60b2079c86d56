"""The one error table: every domain error class is mapped; problems are RFC 9457 documents."""

from __future__ import annotations

import logging

import pytest

import dicomio
import recist
import recist.assessment
import reporting
import volumetrics
from app import errors as app_errors
from app.errors import PROBLEMS, problem_for
from dicomio.errors import ArchiveError, DicomIOError, NotDicomError
from recist.errors import RecistError, RecistInputError
from reporting.errors import ReportingError
from tests.app.conftest import Service
from volumetrics.errors import VolumetricsError

#: Packages imported so that every error subclass they define exists when the tree is walked.
_LOADED = (dicomio, recist, recist.assessment, reporting, volumetrics)
_BASES = (DicomIOError, VolumetricsError, RecistError, ReportingError, app_errors.AppError)


def _all_subclasses(cls: type[BaseException]) -> set[type[BaseException]]:
    found = {cls}
    for sub in cls.__subclasses__():
        found |= _all_subclasses(sub)
    return found


def _domain_error_classes() -> list[type[BaseException]]:
    classes: set[type[BaseException]] = set()
    for base in _BASES:
        classes |= _all_subclasses(base)
    return sorted(classes, key=lambda c: f"{c.__module__}.{c.__qualname__}")


@pytest.mark.parametrize("cls", _domain_error_classes(), ids=lambda c: c.__qualname__)
def test_every_error_class_has_its_own_row(cls: type[BaseException]) -> None:
    """Each error class of dicomio, volumetrics, recist, reporting and app has its own row."""
    assert cls in PROBLEMS, f"{cls.__module__}.{cls.__qualname__} is not in app.errors.PROBLEMS"
    # Client errors, except a server lacking an optional output library (501) or disk space (507).
    assert 400 <= PROBLEMS[cls].status < 500 or PROBLEMS[cls].status in (501, 507)


def test_problem_types_are_unique() -> None:
    """No two rows share a problem type."""
    slugs = [p.slug for p in PROBLEMS.values()]
    assert len(slugs) == len(set(slugs))


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (NotDicomError("x"), 415),
        (ArchiveError("x"), 400),
        (RecistInputError("x"), 422),
        (app_errors.InstanceConflictError("x"), 409),
        (app_errors.NotFoundError("x"), 404),
        (KeyError("x"), 500),
    ],
    ids=["not-dicom", "archive", "recist-input", "conflict", "not-found", "unknown"],
)
def test_lookup_follows_the_mro(exc: BaseException, status: int) -> None:
    """The most specific mapped class decides; anything unmapped is 500."""
    assert problem_for(exc).status == status


def test_unknown_exception_is_500_problem_without_traceback(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug answers 500 problem+json with a reference id only; the traceback goes to the log."""
    import app.subjects.eligibility

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("secret internal state /home/patient/John_Doe")

    monkeypatch.setattr(app.subjects.eligibility, "burden_summary", boom)
    import app.api.routes.eligibility as route

    monkeypatch.setattr(route, "burden_summary", boom)
    client = service.client()
    client.post("/v1/subjects", json={"subject_id": "S-1"})
    with caplog.at_level(logging.ERROR):
        r = client.get("/v1/subjects/S-1/burden")
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("internal-error")
    assert "John_Doe" not in r.text and "Traceback" not in r.text
    assert "reference" in body["detail"]


def test_validation_errors_are_problems(service: Service) -> None:
    """A malformed JSON body answers a 422 problem naming the field."""
    r = service.client().post("/v1/subjects", json={"subject_id": "has space"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "subject_id" in r.json()["detail"]


def test_unknown_route_is_404_problem(service: Service) -> None:
    """Routing errors are problems too."""
    r = service.client().get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_a_method_a_resource_lacks_is_405_naming_every_method_it_has(service: Service) -> None:
    """For every path of the OpenAPI document, a method it lacks: 405 problem+json whose Allow
    lists exactly the path's documented methods (RFC 9110 section 15.5.6), not only the first
    route's (``OPTIONS /v1/subjects`` answered ``Allow: POST`` before)."""
    client = service.client()
    document = client.get("/openapi.json").json()
    checked = 0
    for template, operations in document["paths"].items():
        documented = sorted(
            m.upper() for m in operations if m in ("get", "post", "put", "patch", "delete")
        )
        lacking = next(m for m in ("PATCH", "DELETE", "PUT", "POST", "GET") if m not in documented)
        path = "/".join("x1" if part.startswith("{") else part for part in template.split("/"))
        r = client.request(lacking, path)
        assert r.status_code == 405, (lacking, template, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["allow"] == ", ".join(documented), (lacking, template)
        checked += 1
    assert checked > 40  # every resource of the API, not a sample
