"""``liverburden reprocess``: measurements of record re-measured under this version, kept beside.

contracts/trial-record.md (Reprocessing), issue 18. The measurement made through the service
(SQLite and PostgreSQL) is turned into an older version's by editing its row (version and
numbers, as that version would have left it): reprocessing re-measures it, stores the new result
as a new immutable measurement that the service does not serve yet (held back until adopted),
reports every difference and flipped decision, and a second run re-measures nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.batch.reprocess import queue_reprocessing, run_state
from app.db import repo
from app.db.models import AuditEvent, Job, LesionMeasurement, Measurement, Timepoint
from app.store.blobs import BlobStore
from app.version import ALGORITHM_VERSION
from app.vocab import JobKind, MeasurementOrigin
from phantoms import SMALL_ABDOMEN, BodyPose, make_phantom, write_dicom_series, write_label_nifti
from tests.app._cli import liverburden
from tests.app._http_steps import measured_baseline
from tests.app._outputs_setup import upload_and_measure
from tests.app.conftest import SeriesFiles, Service, running_service, session_factory_for
from tests.app.subjects.test_tracking_service import _lesions

OLD_VERSION = "0.1.0"


def _env(service: Service) -> dict[str, str]:
    url = service.settings.database_url
    return {} if url is None else {"LIVERBURDEN_DATABASE_URL": url}


def _run(service: Service, report: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    done = liverburden(
        service.settings.resolved_home,
        "reprocess",
        "--report",
        str(report),
        *args,
        env=_env(service),
    )
    body = json.loads(report.read_text(encoding="utf-8")) if report.exists() else {}
    return done, body


@pytest.fixture
def measured(backend_service: Service, ct_series: SeriesFiles) -> tuple[Service, str]:
    c = backend_service.client()
    return backend_service, measured_baseline(
        c, "RP-1", ct_series.files, ct_series.labels, "2024-05-06"
    )


def _as_if_older(service: Service, measurement_id: str) -> dict[str, Any]:
    """Make the stored measurement look like an earlier version's; return the true result."""
    with session_factory_for(service.settings)() as s:
        m = s.get(Measurement, measurement_id)
        assert m is not None
        truth = dict(m.result)
        older = json.loads(json.dumps(truth))
        older["algorithm_version"] = OLD_VERSION
        older["burden_fraction"] = 0.30
        older["eligibility"]["burden_gt_25pct"] = True
        older["lesions"][0]["long_axis_mm"] += 1.0
        m.result, m.algorithm_version = older, OLD_VERSION
        s.commit()
    return truth


def _record_id(service: Service, measurement_id: str) -> str | None:
    with session_factory_for(service.settings)() as s:
        m = s.get(Measurement, measurement_id)
        assert m is not None
        tp = s.get(Timepoint, m.timepoint_id)
        assert tp is not None
        record = repo.measurement_of_record(s, tp)
        return None if record is None else record.id


def test_an_older_measurement_is_re_measured_kept_beside_and_held_back(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    service, old_id = measured
    truth = _as_if_older(service, old_id)
    done, report = _run(service, tmp_path / "run1.json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "1 re-measured, 0 skipped, 0 failed, 1 changed"
    (row,) = report["rows"]
    assert (row["measurement_id"], row["status"], row["stored_version"]) == (
        old_id,
        "re-measured",
        OLD_VERSION,
    )
    assert row["flips"] == ["eligibility.burden_gt_25pct"]
    found = {d["what"]: d for d in row["differences"]}
    assert set(found) == {"burden_fraction", "eligibility.burden_gt_25pct", "L1.long_axis_mm"}
    assert found["burden_fraction"]["now"] == truth["burden_fraction"]
    assert report["requested_by"].startswith("cli:") and report["engine"] == "local"
    new_id = row["new_measurement_id"]
    with session_factory_for(service.settings)() as s:
        new, old = s.get(Measurement, new_id), s.get(Measurement, old_id)
        assert new is not None and old is not None
        assert (new.origin, new.algorithm_version) == (
            MeasurementOrigin.REPROCESS,
            ALGORITHM_VERSION,
        )
        assert new.result["burden_fraction"] == truth["burden_fraction"]
        assert new.request_sha256 == old.request_sha256 and new.input_sha256 == old.input_sha256
        assert old.result["burden_fraction"] == 0.30  # never overwritten
    assert _record_id(service, old_id) == old_id  # the service still serves the old numbers
    tp_id = service.client().get("/v1/subjects/RP-1/timepoints").json()[0]["timepoint_id"]
    picked = service.client().put(
        f"/v1/subjects/RP-1/timepoints/{tp_id}/record",
        json={"measurement_id": new_id, "reason": "try the new numbers"},
    )
    assert picked.status_code == 409 and "not adopted" in picked.json()["detail"]
    assert _record_id(service, old_id) == old_id  # a reader cannot bypass the adoption
    rows = list(csv.DictReader(io.StringIO((tmp_path / "run1.csv").read_text(encoding="utf-8"))))
    assert {r["what"] for r in rows if r["status"] == "re-measured"} == set(found)
    page = (tmp_path / "run1.html").read_text(encoding="utf-8")
    assert '<td class="flip">eligibility.burden_gt_25pct</td>' in page and "1 re-measured" in page
    # the subject's decisions adopting would flip: the 25 % criterion no longer met
    flips = {f["what"]: f for f in report["decisions"]["RP-1"]}
    criterion = flips["eligibility.symptoms_or_liver_progression_or_burden_gt_25pct"]
    assert criterion["now"] is True and criterion["adopted"] is not True
    assert report["subjects_flipped"] == 1
    assert "Decisions adopting this version would flip" in page
    assert any(r["status"] == "decision" for r in rows)
    # ... previewed, never kept: no adoption, no audit event, the lesions as they were
    assert _lesion_sources(service) == {old_id}
    admin = service.client("admin")
    assert admin.get("/v1/audit/events", params={"action": "algorithm.adopted"}).json() == []

    again, second = _run(service, tmp_path / "run2.json")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == "0 re-measured, 1 skipped, 0 failed, 0 changed"
    (skipped,) = second["rows"]
    assert skipped["new_measurement_id"] == new_id  # the database remembered, not the file
    assert {d["what"] for d in skipped["differences"]} == set(found)  # still shown, not counted
    with session_factory_for(service.settings)() as s:
        kinds = s.scalars(select(Job.kind).where(Job.kind == JobKind.REPROCESS)).all()
        assert len(kinds) == 1


def test_an_unchanged_version_re_measures_nothing(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    service, old_id = measured
    done, report = _run(service, tmp_path / "same.json", "--subject", "RP-1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0 re-measured, 1 skipped, 0 failed, 0 changed"
    assert report["rows"][0]["new_measurement_id"] == old_id
    assert report["rows"][0]["differences"] == []
    with session_factory_for(service.settings)() as s:
        assert s.scalar(select(func.count()).select_from(Measurement)) == 1


def test_an_interrupted_run_is_taken_up_again_not_doubled(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    """A run that queued its job and stopped: the next run runs that job, creates none."""
    service, old_id = measured
    _as_if_older(service, old_id)
    factory = session_factory_for(service.settings)
    (queued,) = queue_reprocessing(factory, [old_id], "cli:interrupted")
    assert queued.status == "queued" and queued.job_id
    done, report = _run(service, tmp_path / "resume.json")
    assert done.returncode == 0, done.stderr
    assert report["rows"][0]["job_id"] == queued.job_id
    assert report["re_measured"] == 1
    with factory() as s:
        assert s.scalar(select(func.count()).where(Job.kind == JobKind.REPROCESS)) == 1


def test_two_worker_processes_re_measure_two_subjects(
    measured: tuple[Service, str], ct_series_b: SeriesFiles, tmp_path: Path
) -> None:
    service, first = measured
    second = measured_baseline(
        service.client(), "RP-2", ct_series_b.files, ct_series_b.labels, "2024-05-07"
    )
    for measurement_id in (first, second):
        _as_if_older(service, measurement_id)
    done, report = _run(service, tmp_path / "pool.json", "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "2 re-measured, 0 skipped, 0 failed, 2 changed"
    assert [r["measurement_id"] for r in report["rows"]] == [first, second]
    assert done.stderr.count(" over") == 2  # a progress line per job
    with session_factory_for(service.settings)() as s:
        made = s.scalars(select(Measurement).where(Measurement.origin == "reprocess")).all()
        assert len({m.timepoint_id for m in made}) == 2  # one per subject's baseline


def test_bad_input_exits_2_and_stores_nothing(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    service, old_id = measured
    _as_if_older(service, old_id)
    unknown, _ = _run(service, tmp_path / "x.json", "--subject", "NOPE")
    assert unknown.returncode == 2 and "no subject 'NOPE'" in unknown.stderr
    bad_date, _ = _run(service, tmp_path / "y.json", "--since", "2024-13-01")
    assert bad_date.returncode == 2 and "YYYY-MM-DD" in bad_date.stderr
    no_broker, _ = _run(service, tmp_path / "z.json", "--engine", "celery")
    assert no_broker.returncode == 2 and "LIVERBURDEN_BROKER_URL" in no_broker.stderr
    for done in (unknown, bad_date, no_broker):
        assert "Traceback" not in done.stderr
    assert not list(tmp_path.glob("*.json"))
    with session_factory_for(service.settings)() as s:
        assert s.scalar(select(func.count()).select_from(Measurement)) == 1
        assert s.scalar(select(func.count()).where(Job.kind == JobKind.REPROCESS)) == 0


def _reprocessed(service: Service, tmp_path: Path) -> tuple[str, str, dict[str, Any]]:
    """The fixture's measurement made older, then reprocessed: (old id, new id, true result)."""
    c = service.client()
    stored = c.get("/v1/subjects/RP-1/eligibility")
    old_id = str(stored.json()["measurement_id"])
    truth = _as_if_older(service, old_id)
    done, report = _run(service, tmp_path / "before-adopting.json")
    assert done.returncode == 0, done.stderr
    return old_id, str(report["rows"][0]["new_measurement_id"]), truth


def _lesion_sources(service: Service) -> set[str]:
    lesions = service.client().get("/v1/subjects/RP-1/lesions").json()["lesions"]
    return {str(m["measurement_id"]) for x in lesions for m in x["measurements"]}


def test_adopting_the_version_switches_the_record_and_links_the_lesions_again(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    service, _ = measured
    old_id, new_id, truth = _reprocessed(service, tmp_path)
    edc = service.client("edc")
    before = edc.get("/v1/subjects/RP-1/eligibility").json()
    assert (before["measurement_id"], before["burden_fraction"]) == (old_id, 0.30)  # held back
    assert _lesion_sources(service) == {old_id}

    admin = service.client("admin")
    url = f"/v1/algorithm-versions/{ALGORITHM_VERSION}/adopt"
    assert service.client().post(url, json={"reason": "validated"}).status_code == 403
    short = admin.post(url, json={"reason": ""})
    assert short.status_code == 422 and short.headers["content-type"] == "application/problem+json"
    answer = admin.post(url, json={"reason": "validated on the core lab's test set"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (
        body["records_switched"],
        body["timepoints_kept"],
        body["reprocessed_measurements"],
    ) == (
        1,
        0,
        1,
    )
    (switched,) = body["timepoints"]
    assert (switched["record_before"], switched["record_after"]) == (old_id, new_id)
    assert not switched["tracking"].startswith("kept")

    after = edc.get("/v1/subjects/RP-1/eligibility").json()
    assert (after["measurement_id"], after["burden_fraction"]) == (new_id, truth["burden_fraction"])
    assert after["algorithm_version"] == ALGORITHM_VERSION
    assert _lesion_sources(service) == {new_id}  # the proposals now rest on the new masks
    trial = service.client().get("/v1/trial/report")
    assert trial.status_code == 200, trial.text
    versions = trial.text[trial.text.index('id="versions"') :]
    versions = versions[: versions.index("</table>")]
    row = f'<tr><td>{ALGORITHM_VERSION}</td><td class="num">1</td><td>by admin:'
    assert row in versions  # the record's one timepoint, adopted by the admin's key ...
    assert "validated on the core lab&#x27;s test set</td>" in versions  # ... with the reason


def test_adopting_keeps_confirmed_readings_and_names_them(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    service, _ = measured
    c = service.client()
    tp_id = c.get("/v1/subjects/RP-1/timepoints").json()[0]["timepoint_id"]
    confirmed = c.post(f"/v1/subjects/RP-1/timepoints/{tp_id}/lesions/confirm", json={})
    assert confirmed.status_code == 200, confirmed.text
    old_id, new_id, _ = _reprocessed(service, tmp_path)
    done = liverburden(
        service.settings.resolved_home,
        "adopt",
        ALGORITHM_VERSION,
        "--reason",
        "validated",
        env=_env(service),
    )
    assert done.returncode == 0, done.stderr
    assert "1 record(s) switched, 1 timepoint(s) kept as confirmed" in done.stdout
    assert f"record {old_id} -> {new_id}; lesions kept:" in done.stdout
    assert _lesion_sources(service) == {old_id}  # a reader's confirmed readings are never replaced


def test_adopting_a_version_nothing_was_reprocessed_under_is_refused(
    measured: tuple[Service, str],
) -> None:
    service, old_id = measured
    done = liverburden(
        service.settings.resolved_home, "adopt", "9.9.9", "--reason", "typo", env=_env(service)
    )
    assert done.returncode == 2 and "no measurement was reprocessed under" in done.stderr
    assert "Traceback" not in done.stderr
    answer = service.client("admin").post(
        f"/v1/algorithm-versions/{ALGORITHM_VERSION}/adopt", json={"reason": "nothing to adopt"}
    )
    assert answer.status_code == 409
    assert (
        service.client("edc").get("/v1/subjects/RP-1/eligibility").json()["measurement_id"]
        == old_id
    )


def _wait_for_run(client: Any, location: str, timeout_s: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        state = client.get(location)
        assert state.status_code == 200, state.text
        if state.json()["status"] == "succeeded" or time.monotonic() > deadline:
            return dict(state.json())
        time.sleep(0.2)


def test_the_service_reprocesses_on_its_workers_with_progress_and_a_change_report(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    service, old_id = measured
    _as_if_older(service, old_id)
    admin = service.client("admin")
    assert service.client().post("/v1/reprocess", json={}).status_code == 403
    started = admin.post("/v1/reprocess", json={"subject_ids": ["RP-1"]})
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    assert location == f"/v1/reprocess/{started.json()['run_id']}"
    state = _wait_for_run(admin, location)
    assert state["summary"] == "1 re-measured, 0 skipped, 0 failed, 1 changed"
    assert state["progress"] == 1.0 and state["requested_by"] != ""
    (row,) = state["rows"]
    assert row["measurement_id"] == old_id and row["flips"] == ["eligibility.burden_gt_25pct"]
    assert {f["what"] for f in state["decisions"]["RP-1"]} == {
        "eligibility.imaging_eligible",
        "eligibility.symptoms_or_liver_progression_or_burden_gt_25pct",
    }
    csv_text = admin.get(f"{location}/report", params={"format": "csv"})
    assert csv_text.headers["content-type"].startswith("text/csv")
    lines = csv.DictReader(io.StringIO(csv_text.text))
    assert {r["what"] for r in lines if r["status"] == "re-measured"} == {
        "burden_fraction",
        "eligibility.burden_gt_25pct",
        "L1.long_axis_mm",
    }
    page = admin.get(f"{location}/report")  # the page the trial view links to (below)
    assert page.headers["content-type"].startswith("text/html")
    assert '<td class="flip">eligibility.burden_gt_25pct</td>' in page.text
    # the service kept serving the old numbers: held back until adopted
    assert _record_id(service, old_id) == old_id
    again = admin.post("/v1/reprocess", json={})
    assert _wait_for_run(admin, again.headers["Location"])["summary"] == (
        "0 re-measured, 1 skipped, 0 failed, 0 changed"
    )
    actions = [e["action"] for e in admin.get("/v1/audit/events", params={"limit": 1000}).json()]
    assert actions.count("reprocess.started") == 2 and actions.count("reprocess.finished") == 2
    # the trial view lists both runs, newest first, each linking its change report
    trial = service.client().get("/v1/trial/report").text
    runs = trial[trial.index('id="runs"') :]
    runs = runs[: runs.index("</table>")]
    assert runs.index(again.headers["Location"]) < runs.index(location)
    assert "<td>1 re-measured, 0 skipped, 0 failed, 1 changed</td><td>1</td>" in runs
    assert f'<a href="{location}/report">change report</a>' in runs


def wait_for_run_row(settings: Any, run_id: str, timeout_s: float = 120.0) -> Job:
    """The run's row once it is over, read from the database (never through the run's route)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with session_factory_for(settings)() as s:
            run = s.get(Job, run_id)
            assert run is not None
            if run.status != "running" or time.monotonic() > deadline:
                return run
        time.sleep(0.2)


def finished_events(settings: Any, run_id: str) -> int:
    """How many times the run's end was audited."""
    with session_factory_for(settings)() as s:
        return len(
            s.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "reprocess.finished", AuditEvent.entity_id == run_id
                )
            ).all()
        )


def test_a_run_ends_with_its_last_re_measurement_even_if_nobody_reads_it(
    measured: tuple[Service, str],
) -> None:
    """The worker that ends the last re-measurement writes the change report and audits it;
    reading the run afterwards gives that report and audits nothing more."""
    service, old_id = measured
    _as_if_older(service, old_id)
    admin = service.client("admin")
    started = admin.post("/v1/reprocess", json={"subject_ids": ["RP-1"]})
    run_id = started.json()["run_id"]
    run = wait_for_run_row(service.settings, run_id)
    assert run.status == "succeeded" and run.progress == 1.0
    assert run.result["summary"] == "1 re-measured, 0 skipped, 0 failed, 1 changed"
    assert run.result["rows"][0]["flips"] == ["eligibility.burden_gt_25pct"]
    assert finished_events(service.settings, run_id) == 1
    read = admin.get(started.headers["Location"]).json()
    assert read["summary"] == run.result["summary"] and read["rows"] == run.result["rows"]
    assert finished_events(service.settings, run_id) == 1


def test_a_run_two_see_over_at_once_is_finished_and_audited_once(
    measured: tuple[Service, str],
) -> None:
    """One who read the run while it ran finishes it after another did: the other's report
    stands and the end is audited once."""
    service, old_id = measured
    _as_if_older(service, old_id)
    idle = service.settings.model_copy(update={"workers": 0})
    with running_service(idle) as quiet:
        run_id = quiet.client("admin").post("/v1/reprocess", json={}).json()["run_id"]
        factory = session_factory_for(quiet.settings)
        with factory() as late:
            stale = late.get(Job, run_id)  # seen running
            assert stale is not None and stale.status == "running"
            late.commit()
            done, _ = _run(quiet, quiet.settings.resolved_home / "cli.json")
            assert done.returncode == 0, done.stderr
            first = wait_for_run_row(quiet.settings, run_id)  # the command's worker ended it
            assert first.status == "succeeded"
            assert stale.status == "running"  # this session still believes it runs
            again = run_state(late, BlobStore(quiet.settings.blob_dir), stale)
            late.commit()
        assert again == first.result
        assert finished_events(quiet.settings, run_id) == 1


def test_a_run_not_over_has_no_report_and_bad_requests_are_refused(
    measured: tuple[Service, str], tmp_path: Path
) -> None:
    """A server without workers queues the jobs (progress 0, report 409); the command line
    takes the same jobs up and the run is over."""
    service, old_id = measured
    _as_if_older(service, old_id)
    idle = service.settings.model_copy(update={"workers": 0})
    with running_service(idle) as quiet:
        admin = quiet.client("admin")
        unknown = admin.post("/v1/reprocess", json={"subject_ids": ["NOPE"]})
        assert unknown.status_code == 422 and "no subject 'NOPE'" in unknown.json()["detail"]
        bad = admin.post("/v1/reprocess", json={"since": "2024-13-01"})
        assert bad.status_code == 422
        started = admin.post("/v1/reprocess", json={})
        location = started.headers["Location"]
        state = admin.get(location).json()
        assert (state["status"], state["progress"]) == ("running", 0.0)
        early = admin.get(f"{location}/report")
        assert early.status_code == 409 and "not over" in early.json()["detail"]
        job_id = str(_first_job(quiet))
        assert admin.get(f"/v1/reprocess/{job_id}").status_code == 404  # a job, not a run
        done, _ = _run(quiet, tmp_path / "cli.json")
        assert done.returncode == 0, done.stderr
        assert (
            done.stdout.strip().splitlines()[-1] == "1 re-measured, 0 skipped, 0 failed, 1 changed"
        )
        assert _wait_for_run(admin, location)["summary"] == (
            "1 re-measured, 0 skipped, 0 failed, 1 changed"
        )


def _first_job(service: Service) -> str:
    with session_factory_for(service.settings)() as s:
        return str(s.scalars(select(Job.id).where(Job.kind == JobKind.MEASUREMENT)).first())


def test_the_change_report_names_the_responses_adopting_would_flip(
    backend_service: Service, tmp_path: Path
) -> None:
    """Baseline and week 8 (lesions at 0.6x: PR). The older version's week-8 readings are made
    those of stable disease; reprocessing previews the adoption: week 8's response and the best
    overall response flip SD -> PR, and nothing of the preview is kept."""
    c = backend_service.client()
    assert c.post("/v1/subjects", json={"subject_id": "RP-9", "arm": "A"}).status_code == 201
    visits = [
        ("baseline", "2026-01-05", True, 1.0, None),
        ("week8", "2026-03-02", False, 0.6, BodyPose((3.0, -5.0, 6.0), (5.0, -4.0, 3.0))),
    ]
    tps = []
    for n, (label, date, baseline, scale, pose) in enumerate(visits):
        spec = dataclasses.replace(SMALL_ABDOMEN, lesions=_lesions(scale), pose=pose, seed=n + 1)
        phantom = make_phantom(spec)
        files = write_dicom_series(phantom, tmp_path / label / "ct")
        labels = write_label_nifti(phantom, tmp_path / label / "labels.nii.gz")
        tp = upload_and_measure(c, files, labels, "RP-9", label, date, baseline, lesion_count=None)
        tps.append(tp.timepoint_id)
    assessed = c.get("/v1/subjects/RP-9/assessment").json()
    assert assessed["timepoints"][1]["overall_response"] == "PR"
    with session_factory_for(backend_service.settings)() as s:
        for m in s.scalars(select(Measurement)).all():
            m.algorithm_version = OLD_VERSION  # both made by an earlier version ...
        base = {
            r.lesion_pk: r.diameter_mm
            for r in s.scalars(select(LesionMeasurement))
            if r.timepoint_id == tps[0]
        }
        for r in s.scalars(select(LesionMeasurement)).all():
            if r.timepoint_id == tps[1] and r.diameter_mm is not None:
                r.diameter_mm = base[r.lesion_pk]  # ... which read week 8 as unchanged
        s.commit()
    assert c.get("/v1/subjects/RP-9/assessment").json()["timepoints"][1]["overall_response"] == "SD"

    done, report = _run(backend_service, tmp_path / "flips.json", "--subject", "RP-9")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "2 re-measured, 0 skipped, 0 failed, 0 changed"
    flips = {f["what"]: (f["now"], f["adopted"]) for f in report["decisions"]["RP-9"]}
    assert flips["response.week8.overall"] == ("SD", "PR"), flips
    assert flips["best_overall_response"] == ("SD", "PR"), flips
    # the preview kept nothing: the service still reads week 8 as stable disease
    assert c.get("/v1/subjects/RP-9/assessment").json()["timepoints"][1]["overall_response"] == "SD"
