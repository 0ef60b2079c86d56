"""Rows of the SDTM TU, TR and RS domains for one subject (terms documented in reporting.sdtm).

Each function returns the subject's rows without STUDYID/DOMAIN/USUBJID/--SEQ, in visit order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reporting._parse import as_date, get, text
from reporting._sdtm_io import Value
from reporting.errors import ReportingInputError
from reporting.model import SubjectData

Row = dict[str, Value]

#: RECIST counts a target "too small to measure" as 5 mm (RECIST 1.1 Appendix II).
TOO_SMALL_MM = 5.0
_RESPONSE_TERMS = {"NON_CR_NON_PD": "NON-CR/NON-PD"}
_NON_TARGET_TERMS = {
    "present": "PRESENT",
    "absent": "ABSENT",
    "unequivocal_progression": "UNEQUIVOCAL PROGRESSION",
}
_MODALITY_METHOD = {"CT": "CT SCAN", "MR": "MRI", "PT": "PET SCAN"}


@dataclass(frozen=True, slots=True)
class _Lesion:
    lesion_id: str
    organ: str
    lymph_node: bool
    target: bool


def _fmt(value: float) -> str:
    """Return a number as text, at most 3 decimals, no trailing zeros (``21``, ``17.889``)."""
    out = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if out in ("", "-0") else out


def _term(response: str | None) -> str:
    return "" if response is None else _RESPONSE_TERMS.get(response, response)


def _lesions(data: Mapping[str, Any]) -> dict[str, _Lesion]:
    raw = get(data, "lesions", "assessment input")
    if not isinstance(raw, list):
        raise ReportingInputError("assessment input.lesions: expected a list")
    out: dict[str, _Lesion] = {}
    for i, item in enumerate(raw):
        where = f"assessment input.lesions[{i}]"
        if not isinstance(item, Mapping):
            raise ReportingInputError(f"{where}: expected an object")
        lesion_id = text(item, "lesion_id", where)
        out[lesion_id] = _Lesion(
            lesion_id,
            text(item, "organ", where),
            bool(item.get("lymph_node", False)),
            item.get("role") == "target",
        )
    return out


def _input_timepoints(data: Mapping[str, Any]) -> list[tuple[dt.date, Mapping[str, Any]]]:
    raw = get(data, "timepoints", "assessment input")
    if not isinstance(raw, list):
        raise ReportingInputError("assessment input.timepoints: expected a list")
    out = []
    for i, tp in enumerate(raw):
        if not isinstance(tp, Mapping):
            raise ReportingInputError(f"assessment input.timepoints[{i}]: expected an object")
        out.append((as_date(get(tp, "date", "assessment input"), f"timepoints[{i}].date"), tp))
    return sorted(out, key=lambda item: item[0])


def _method(subject: SubjectData, date: dt.date, method: str | None) -> str:
    if method:
        return method
    tm = subject.measurement_at(date)
    modality = tm.measurement.modality.upper() if tm is not None else ""
    return _MODALITY_METHOD.get(modality, "CT SCAN")


def _visit(subject: SubjectData, date: dt.date, prefix: str) -> Row:
    number, label = subject.visit_of(date)
    return {"VISITNUM": float(number), "VISIT": label, f"{prefix}DTC": date.isoformat()}


def tu_rows(subject: SubjectData, *, evaluator: str, method: str | None) -> list[Row]:
    """TU: the baseline lesions (TARGET / NON-TARGET), then new lesions at their visits."""
    if subject.assessment_input is None:
        return []
    lesions = _lesions(subject.assessment_input)
    timepoints = _input_timepoints(subject.assessment_input)
    baseline = next((d for d, tp in timepoints if tp.get("baseline")), timepoints[0][0])
    rows: list[Row] = []

    def row(link: str, result: str, organ: str, date: dt.date) -> Row:
        return {
            "TULNKID": link,
            "TUTESTCD": "TUMIDENT",
            "TUTEST": "Tumor Identification",
            "TUORRES": result,
            "TUSTRESC": result,
            "TULOC": organ.upper(),
            "TUMETHOD": _method(subject, date, method),
            "TUEVAL": evaluator,
            **_visit(subject, date, "TU"),
        }

    for lesion in lesions.values():
        role = "TARGET" if lesion.target else "NON-TARGET"
        rows.append(row(lesion.lesion_id, role, lesion.organ, baseline))
    count = 0
    seen: set[str] = set()
    for date, tp in timepoints:
        for new in tp.get("new_lesions", []) or []:
            # a tracked new lesion has its record id (NEW1, ...), one TU row when first seen
            # (listed again to confirm an equivocal one, it is the same lesion)
            record_id = new.get("lesion_id")
            if record_id in seen:
                continue
            count += 1
            link_id = str(record_id) if record_id else f"NEW{count:02d}"
            seen.add(link_id)
            result = "EQUIVOCAL NEW" if new.get("equivocal") else "NEW"
            rows.append(row(link_id, result, str(new.get("organ", "")), date))
    return rows


def _target_result(lesion: _Lesion, reading: Mapping[str, Any]) -> Row:
    code, name = (
        ("LPERP", "Longest Perpendicular") if lesion.lymph_node else ("LDIAM", "Longest Diameter")
    )
    row: Row = {"TRGRPID": "TARGET", "TRTESTCD": code, "TRTEST": name}
    status = reading.get("status")
    value: float | None = None
    if reading.get("fragments_mm"):
        value = float(sum(float(v) for v in reading["fragments_mm"]))
    elif reading.get("diameter_mm") is not None:
        value = float(reading["diameter_mm"])
    if status == "too_small":
        return {
            **row,
            "TRORRES": "TOO SMALL TO MEASURE",
            "TRSTRESC": _fmt(TOO_SMALL_MM),
            "TRSTRESN": TOO_SMALL_MM,
            "TRSTRESU": "mm",
        }
    if status == "absent":
        value = 0.0
    if status == "not_evaluated" or value is None:
        return {**row, "TRSTAT": "NOT DONE", "TRREASND": "NOT EVALUATED"}
    return {
        **row,
        "TRORRES": _fmt(value),
        "TRORRESU": "mm",
        "TRSTRESC": _fmt(value),
        "TRSTRESN": value,
        "TRSTRESU": "mm",
    }


def _non_target_result(reading: Mapping[str, Any]) -> Row:
    row: Row = {"TRGRPID": "NON-TARGET", "TRTESTCD": "TUMSTATE", "TRTEST": "Tumor State"}
    term = _NON_TARGET_TERMS.get(str(reading.get("status")))
    measured = reading.get("diameter_mm") is not None or bool(reading.get("fragments_mm"))
    if term is None and reading.get("status") is None and measured:
        term = "PRESENT"  # measured (e.g. from a mask) without a status: it is there
    if term is None:
        return {**row, "TRSTAT": "NOT DONE", "TRREASND": "NOT EVALUATED"}
    return {**row, "TRORRES": term, "TRSTRESC": term}


def tr_rows(subject: SubjectData, *, evaluator: str, method: str | None) -> list[Row]:
    """Return the TR rows: per visit, each lesion's result, the sum of diameters, the burden.

    Screening scans come first.
    """
    lesions = _lesions(subject.assessment_input) if subject.assessment_input else {}
    readings: dict[dt.date, Mapping[str, Any]] = {}
    if subject.screening_input is not None:
        lesions = {**_lesions(subject.screening_input), **lesions}
        screening = set(subject.screening_dates)
        readings = {d: tp for d, tp in _input_timepoints(subject.screening_input) if d in screening}
    if subject.assessment_input is not None:
        readings.update(_input_timepoints(subject.assessment_input))
    summary = subject.summary
    dates = subject.visit_dates
    has_targets = any(les.target for les in lesions.values())
    rows: list[Row] = []
    for date in dates:
        common: Row = {
            "TRMETHOD": _method(subject, date, method),
            "TREVAL": evaluator,
            **_visit(subject, date, "TR"),
        }
        tp_input = readings.get(date, {})
        for reading in tp_input.get("measurements", []) or []:
            lesion = lesions.get(str(reading.get("lesion_id")))
            if lesion is None:
                raise ReportingInputError(
                    f"assessment input {date.isoformat()}: unknown lesion "
                    f"{reading.get('lesion_id')!r}"
                )
            result = (
                _target_result(lesion, reading) if lesion.target else (_non_target_result(reading))
            )
            rows.append({"TRLNKID": lesion.lesion_id, **result, **common})
        tp = summary.timepoint(date)
        if tp is not None and (has_targets or tp.sum_mm is not None):
            sum_row: Row = {
                "TRGRPID": "TARGET",
                "TRTESTCD": "SUMDIAM",
                "TRTEST": "Sum of Diameters",
            }
            if tp.sum_mm is None:
                sum_row.update({"TRSTAT": "NOT DONE", "TRREASND": "NOT EVALUATED"})
            else:
                sum_row.update(
                    {
                        "TRORRES": _fmt(tp.sum_mm),
                        "TRORRESU": "mm",
                        "TRSTRESC": _fmt(tp.sum_mm),
                        "TRSTRESN": tp.sum_mm,
                        "TRSTRESU": "mm",
                    }
                )
            rows.append({**sum_row, **common})
        tm = subject.measurement_at(date)
        if tm is not None and tm.measurement.burden_fraction is not None:
            pct = 100.0 * tm.measurement.burden_fraction
            rows.append(
                {
                    "TRGRPID": "LIVER",
                    "TRTESTCD": "TUMBURDN",
                    "TRTEST": "Tumor Burden Fraction of Liver Volume",
                    "TRORRES": _fmt(pct),
                    "TRORRESU": "%",
                    "TRSTRESC": _fmt(pct),
                    "TRSTRESN": pct,
                    "TRSTRESU": "%",
                    **common,
                }
            )
    return rows


def rs_rows(subject: SubjectData, *, evaluator: str, method: str | None) -> list[Row]:
    """RS: per follow-up visit the RECIST 1.1 responses, then the best overall response."""
    del method  # RS has no method variable
    summary = subject.summary
    rows: list[Row] = []

    def row(code: str, name: str, result: str, visit: Row) -> Row:
        out: Row = {
            "RSTESTCD": code,
            "RSTEST": name,
            "RSCAT": "RECIST 1.1",
            "RSEVAL": evaluator,
            **visit,
        }
        if result:
            out.update({"RSORRES": result, "RSSTRESC": result})
        else:
            out.update({"RSSTAT": "NOT DONE", "RSREASND": "NOT EVALUATED"})
        return out

    for tp in summary.timepoints:
        if tp.baseline:
            continue
        visit = _visit(subject, tp.date, "RS")
        if tp.target_response is not None:
            rows.append(row("TRGRESP", "Target Response", _term(tp.target_response), visit))
        if tp.non_target_response is not None:
            rows.append(
                row("NTRGRESP", "Non-target Response", _term(tp.non_target_response), visit)
            )
        new = "Y" if tp.new_lesions else ("EQUIVOCAL" if tp.equivocal_new_lesions else "N")
        rows.append(row("NEWLPROG", "New Lesion Progression", new, visit))
        rows.append(row("OVRLRESP", "Overall Response", _term(tp.overall_response), visit))
        if tp.hepatic_response is not None:
            rows.append(
                row("HEPRESP", "Hepatic Overall Response", _term(tp.hepatic_response), visit)
            )
    if summary.best_overall_response is not None:
        rows.append(
            row("BESTRESP", "Best Overall Response", _term(summary.best_overall_response), {})
        )
    progression = summary.hepatic_progression_date
    if progression is not None:  # dated by the visit that showed it (maybe an earlier one)
        rows.append(row("HEPPROG", "Hepatic Progression", "Y", _visit(subject, progression, "RS")))
    elif any(not tp.baseline for tp in summary.timepoints):
        rows.append(row("HEPPROG", "Hepatic Progression", "N", {}))
    return rows
