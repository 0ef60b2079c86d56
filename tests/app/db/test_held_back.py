"""Which measurements a timepoint's record rests on, with reprocessing (issue 18).

Rows written directly (SQLite): a re-measurement is held back until its version is adopted;
adopted, it supersedes the earlier measurements of the same request (a measurement without a
liver then brings its lesions once), while measurements of other requests stay.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from app.db import get_engine, make_session_factory, repo, upgrade_database
from app.db.models import Adoption, Measurement, Subject, Timepoint
from app.vocab import MeasurementOrigin


def _measurement(
    tp: Timepoint, request: str, version: str, n: int, origin: str, liver: float | None
) -> Measurement:
    return Measurement(
        timepoint_id=tp.id,
        series_instance_uid="1.2.3",
        segmentation_ref=f"upload:{request}",
        version=n,
        input_sha256=request * 64,
        request_sha256=request * 64,
        algorithm_version=version,
        result={"liver_volume_ml": liver, "lesions": []},
        created_by="test",
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n),
        origin=origin,
    )


def _session(tmp_path: Path) -> Session:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade_database(url)
    return make_session_factory(get_engine(url))()


def test_a_re_measurement_is_held_back_then_supersedes_what_it_re_did(tmp_path: Path) -> None:
    with _session(tmp_path) as s:
        subject = Subject(subject_id="HB-1", created_by="test")
        s.add(subject)
        s.flush()
        tp = Timepoint(
            subject_pk=subject.id, label="baseline", date=dt.date(2026, 1, 5), created_by="test"
        )
        s.add(tp)
        s.flush()
        req = MeasurementOrigin.REQUEST
        old_liver = _measurement(tp, "a", "0.1.0", 1, req, 1500.0)
        old_liverless = _measurement(tp, "b", "0.1.0", 2, req, None)
        other = _measurement(tp, "c", "0.1.0", 3, req, None)  # never reprocessed
        new_liver = _measurement(tp, "a", "0.2.0", 4, MeasurementOrigin.REPROCESS, 1490.0)
        new_liverless = _measurement(tp, "b", "0.2.0", 5, MeasurementOrigin.REPROCESS, None)
        s.add_all([old_liver, old_liverless, other, new_liver, new_liverless])
        s.flush()

        held_back = repo.timepoint_measurements(s, tp)
        assert [m.id for m in held_back] == [other.id, old_liverless.id, old_liver.id]
        assert repo.measurement_of_record(s, tp) is old_liver

        s.add(Adoption(algorithm_version="0.2.0", reason="validated", adopted_by="test"))
        s.flush()
        adopted = repo.timepoint_measurements(s, tp)
        assert [m.id for m in adopted] == [new_liverless.id, new_liver.id, other.id]
        assert repo.measurement_of_record(s, tp) is new_liver
        assert [m.id for m in repo.measurements_in_use(s, tp)] == [
            new_liver.id,
            other.id,
            new_liverless.id,
        ]
