"""QIDO-RS searches for studies, series and instances, answered as DICOM JSON arrays.

Candidates come from the database (UID keys narrow them in SQL), attributes from the cached
DICOM JSON of each row (:mod:`app.archive.attributes`) plus computed ones (counts, modalities in
study, retrieve URLs). Matching runs on the merged attributes; ``offset`` and ``limit`` page the
matches in a stable order; an answer is capped at :data:`MAX_RESULTS` (with a Warning header).
Query keys of a level may name attributes of that level or of the levels above it.

References
----------
DICOM PS3.18 section 10.6 (Search Transaction) and Tables 10.6.3-3, -4, -5 (returned attributes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.archive.attributes import (
    INSTANCE_KEYWORDS,
    PATIENT_KEYWORDS,
    SERIES_KEYWORDS,
    STUDY_KEYWORDS,
    ensure_instance_attrs,
    ensure_series_attrs,
    ensure_study_attrs,
    patient_attrs,
)
from app.archive.matching import QidoQuery, matches, parse_query, tag_key
from app.db.models import Instance, Series, Study
from app.store.blobs import BlobStore
from dicomio.dicomjson import tag_for_keyword

__all__ = ["MAX_RESULTS", "SearchResult", "search"]

MAX_RESULTS = 5000


def _tags(*keywords: str) -> frozenset[int]:
    return frozenset(int(tag_for_keyword(k)) for k in keywords)  # type: ignore[arg-type]


_STUDY_COMPUTED = (
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
_COMMON = ("RetrieveURL", "InstanceAvailability")
_STUDY_TAGS = _tags(*STUDY_KEYWORDS)
_SERIES_TAGS = _tags(*SERIES_KEYWORDS)
_INSTANCE_TAGS = _tags(*INSTANCE_KEYWORDS)
_PATIENT_TAGS = _tags(*PATIENT_KEYWORDS)
_STUDY_UID = tag_key(0x0020000D)
_SERIES_UID = tag_key(0x0020000E)
_SOP_UID = tag_key(0x00080018)

#: Per level: the attributes that may be matched, and those returned by default.
_SUPPORTED = {
    "study": _STUDY_TAGS | _PATIENT_TAGS | _tags(*_STUDY_COMPUTED),
    "series": _STUDY_TAGS | _SERIES_TAGS | _tags("NumberOfSeriesRelatedInstances"),
    "instance": _STUDY_TAGS | _SERIES_TAGS | _INSTANCE_TAGS,
}
_DEFAULT = {
    "study": _STUDY_TAGS | _PATIENT_TAGS | _tags(*_STUDY_COMPUTED, *_COMMON),
    "series": _SERIES_TAGS | _tags("StudyInstanceUID", "NumberOfSeriesRelatedInstances", *_COMMON),
    "instance": _INSTANCE_TAGS | _tags("StudyInstanceUID", "SeriesInstanceUID", *_COMMON),
}


@dataclass(frozen=True, slots=True)
class SearchResult:
    """The matches (DICOM JSON datasets) and the Warning header values to send with them."""

    datasets: list[dict[str, Any]]
    warnings: list[str]


def _el(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


@dataclass(slots=True)
class _Row:
    study: Study
    series: Series | None = None
    instance: Instance | None = None
    computed: dict[str, Any] = field(default_factory=dict)
    patient: dict[str, Any] | None = None

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.study.dicom_attrs or {})
        if self.series is not None:
            out.update(self.series.dicom_attrs or {})
        if self.instance is not None:
            out.update(self.instance.dicom_attrs or {})
        out.update(self.patient or {})
        out.update(self.computed)
        return out


def _uid_values(query: QidoQuery, key: str) -> list[str] | None:
    """Return the UIDs a query's UID key names (for SQL), or None when it does not narrow."""
    for f in query.filters:
        if f.key == key and f.value.strip() not in ("", "*"):
            return [u.strip() for u in f.value.replace("\\", ",").split(",") if u.strip()]
    return None


def _study_rows(session: Session, query: QidoQuery, base: str) -> list[_Row]:
    stmt = select(Study).order_by(Study.id)
    if (uids := _uid_values(query, _STUDY_UID)) is not None:
        stmt = stmt.where(Study.study_instance_uid.in_(uids))
    studies = list(session.execute(stmt).scalars())
    pks = [s.id for s in studies]
    counts: dict[int, tuple[int, int]] = {}
    modalities: dict[int, set[str]] = {pk: set() for pk in pks}
    if pks:
        count_stmt = (
            select(Series.study_pk, func.count(func.distinct(Series.id)), func.count(Instance.id))
            .join(Instance, Instance.series_pk == Series.id, isouter=True)
            .where(Series.study_pk.in_(pks))
            .group_by(Series.study_pk)
        )
        counts = {pk: (int(ns), int(ni)) for pk, ns, ni in session.execute(count_stmt)}
        mod_stmt = select(Series.study_pk, Series.modality).where(Series.study_pk.in_(pks))
        for pk, modality in session.execute(mod_stmt.distinct()):
            if modality:
                modalities[pk].add(modality)
    rows = []
    for s in studies:
        n_series, n_inst = counts.get(s.id, (0, 0))
        computed = {
            _STUDY_UID: _el("UI", s.study_instance_uid),
            tag_key(0x00080061): _el("CS", *sorted(modalities[s.id])),
            tag_key(0x00201206): _el("IS", n_series),
            tag_key(0x00201208): _el("IS", n_inst),
            tag_key(0x00081190): _el("UR", f"{base}/studies/{s.study_instance_uid}"),
            tag_key(0x00080056): _el("CS", "ONLINE"),
        }
        rows.append(_Row(s, computed=computed))
    return rows


def _series_rows(
    session: Session, query: QidoQuery, base: str, study_uid: str | None
) -> list[_Row]:
    stmt = select(Series, Study).join(Study, Series.study_pk == Study.id).order_by(Series.id)
    if study_uid is not None:
        stmt = stmt.where(Study.study_instance_uid == study_uid)
    if (uids := _uid_values(query, _STUDY_UID)) is not None:
        stmt = stmt.where(Study.study_instance_uid.in_(uids))
    if (uids := _uid_values(query, _SERIES_UID)) is not None:
        stmt = stmt.where(Series.series_instance_uid.in_(uids))
    pairs = list(session.execute(stmt))
    pks = [se.id for se, _ in pairs]
    counts: dict[int, int] = {}
    if pks:
        count_stmt = (
            select(Instance.series_pk, func.count(Instance.id))
            .where(Instance.series_pk.in_(pks))
            .group_by(Instance.series_pk)
        )
        counts = {pk: int(n) for pk, n in session.execute(count_stmt)}
    rows = []
    for se, st in pairs:
        url = f"{base}/studies/{st.study_instance_uid}/series/{se.series_instance_uid}"
        computed = {
            _STUDY_UID: _el("UI", st.study_instance_uid),
            _SERIES_UID: _el("UI", se.series_instance_uid),
            tag_key(0x00080060): _el("CS", se.modality) if se.modality else _el("CS"),
            tag_key(0x00201209): _el("IS", counts.get(se.id, 0)),
            tag_key(0x00081190): _el("UR", url),
            tag_key(0x00080056): _el("CS", "ONLINE"),
        }
        rows.append(_Row(st, se, computed=computed))
    return rows


def _instance_rows(
    session: Session, query: QidoQuery, base: str, study_uid: str | None, series_uid: str | None
) -> list[_Row]:
    stmt = (
        select(Instance, Series, Study)
        .join(Series, Instance.series_pk == Series.id)
        .join(Study, Series.study_pk == Study.id)
        .order_by(Series.id, Instance.instance_number, Instance.id)
    )
    for column, fixed, key in (
        (Study.study_instance_uid, study_uid, _STUDY_UID),
        (Series.series_instance_uid, series_uid, _SERIES_UID),
        (Instance.sop_instance_uid, None, _SOP_UID),
    ):
        if fixed is not None:
            stmt = stmt.where(column == fixed)
        if (uids := _uid_values(query, key)) is not None:
            stmt = stmt.where(column.in_(uids))
    rows = []
    for inst, se, st in session.execute(stmt):
        url = (
            f"{base}/studies/{st.study_instance_uid}/series/{se.series_instance_uid}"
            f"/instances/{inst.sop_instance_uid}"
        )
        computed = {
            _STUDY_UID: _el("UI", st.study_instance_uid),
            _SERIES_UID: _el("UI", se.series_instance_uid),
            _SOP_UID: _el("UI", inst.sop_instance_uid),
            tag_key(0x00081190): _el("UR", url),
            tag_key(0x00080056): _el("CS", "ONLINE"),
        }
        rows.append(_Row(st, se, inst, computed=computed))
    return rows


def _unique(items: Iterable[Any]) -> list[Any]:
    seen: dict[int, Any] = {}
    for item in items:
        if item is not None:
            seen.setdefault(id(item), item)
    return list(seen.values())


def _fill(session: Session, blobs: BlobStore, rows: Sequence[_Row], wanted: frozenset[int]) -> None:
    """Fill the caches of the levels whose attributes ``wanted`` needs."""
    if wanted & _STUDY_TAGS:
        ensure_study_attrs(session, blobs, _unique(r.study for r in rows))
    if wanted & _SERIES_TAGS:
        ensure_series_attrs(session, blobs, _unique(r.series for r in rows))
    if wanted & _INSTANCE_TAGS:
        ensure_instance_attrs(session, blobs, _unique(r.instance for r in rows))


def search(
    session: Session,
    blobs: BlobStore,
    level: str,
    params: Iterable[tuple[str, str]],
    base: str,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> SearchResult:
    """Run a QIDO-RS search at ``level`` ("study", "series" or "instance")."""
    query = parse_query(params, _SUPPORTED[level])
    builders: dict[str, Callable[[], list[_Row]]] = {
        "study": lambda: _study_rows(session, query, base),
        "series": lambda: _series_rows(session, query, base, study_uid),
        "instance": lambda: _instance_rows(session, query, base, study_uid, series_uid),
    }
    rows = builders[level]()
    filter_tags = frozenset(f.tag for f in query.filters)
    _fill(session, blobs, rows, filter_tags)
    patients: dict[int, dict[str, Any]] = {}

    def with_patient(row: _Row) -> _Row:
        if level == "study":
            if row.study.id not in patients:
                patients[row.study.id] = patient_attrs(session, blobs, row.study)
            row.patient = patients[row.study.id]
        return row

    if filter_tags & _PATIENT_TAGS:
        rows = [with_patient(r) for r in rows]
    matched = [r for r in rows if all(matches(f, r.record().get(f.key)) for f in query.filters)]
    warnings = []
    if query.ignored:
        warnings.append(
            "299 liverburden: the following attributes are not supported for matching and "
            f"were ignored: {', '.join(sorted(set(query.ignored)))}"
        )
    limit = query.limit if query.limit is not None else MAX_RESULTS
    page = matched[query.offset : query.offset + min(limit, MAX_RESULTS)]
    if query.offset + len(page) < len(matched) and (query.limit is None or limit > MAX_RESULTS):
        warnings.append(
            "299 liverburden: the number of results exceeded the maximum supported by the "
            "server; additional results can be requested"
        )
    returned = _DEFAULT[level] | query.include | filter_tags
    _fill(session, blobs, page, _SUPPORTED[level] if query.include_all else returned)
    datasets = []
    for row in page:
        record = with_patient(row).record()
        keep = (
            record
            if query.include_all
            else {k: v for k, v in record.items() if int(k, 16) in returned}
        )
        datasets.append(dict(sorted(keep.items())))
    return SearchResult(datasets, warnings)
