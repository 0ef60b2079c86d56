"""SDTM TU/TR/RS as SAS transport files checked for SDTMIG basics, read with pyreadstat.

Variable names of at most 8 characters (upper case, starting with a letter), labels of at most 40,
dataset names and labels within the XPT v5 limits, character values of at most 200 bytes,
``--SEQ`` unique per subject, ``--DTC`` in ISO 8601, ``DOMAIN`` equal to the dataset, and every
coded result in the controlled terms the RECIST 1.1 SDTM supplement uses (sponsor-defined terms,
such as the tumour burden test, listed as such).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyreadstat
import pytest

import recist
from reporting import SubjectData, build_sdtm
from tests.reporting._ct import TinyCT, assessment_input
from tests.reporting.conftest import make_subject

ISO_8601 = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2})?)?)?)?$")
#: Controlled terms per variable (CDISC CT for RECIST 1.1 in SDTM; TUMBURDN is sponsor-defined).
TERMS: dict[str, set[str]] = {
    "TUTESTCD": {"TUMIDENT"},
    "TUORRES": {"TARGET", "NON-TARGET", "NEW", "EQUIVOCAL NEW"},
    "TUMETHOD": {"CT SCAN", "MRI", "PET SCAN"},
    "TRTESTCD": {"LDIAM", "LPERP", "SUMDIAM", "TUMSTATE", "TUMBURDN"},
    "TRGRPID": {"TARGET", "NON-TARGET", "LIVER", ""},  # LIVER: the burden row's group
    "TRSTAT": {"", "NOT DONE"},
    "TRORRESU": {"", "mm", "%"},
    "RSTESTCD": {"TRGRESP", "NTRGRESP", "NEWLPROG", "OVRLRESP", "BESTRESP", "HEPRESP", "HEPPROG"},
    "RSORRES": {"", "CR", "PR", "SD", "PD", "NE", "NON-CR/NON-PD", "Y", "N", "EQUIVOCAL"},
    "RSCAT": {"RECIST 1.1"},
    "RSSTAT": {"", "NOT DONE"},
}


def _subjects(tiny_ct: TinyCT) -> list[SubjectData]:
    """A responder with measurements, and one with a new lesion and statuses of every kind."""
    data = assessment_input("S-002", (30.0, 20.0))
    data["timepoints"][1]["measurements"][0] = {"lesion_id": "T1", "status": "too_small"}
    data["timepoints"][1]["measurements"][2] = {"lesion_id": "NT1", "status": "not_evaluated"}
    data["timepoints"].append(
        {
            "date": "2020-05-01",
            "measurements": [
                {"lesion_id": "T1", "status": "absent"},
                {"lesion_id": "N1", "diameter_mm": 9.0},
                {"lesion_id": "NT1", "status": "unequivocal_progression"},
            ],
            "new_lesions": [{"organ": "liver", "equivocal": True}],
        }
    )
    second = SubjectData(assessment=recist.assess(data), assessment_input=data)
    return [make_subject(measurement=tiny_ct.measurement), second]


@pytest.mark.parametrize("domain", ["TU", "TR", "RS"])
def test_xpt_meets_sdtmig_basics(domain: str, tiny_ct: TinyCT, tmp_path: Path) -> None:
    """Names, labels, lengths, sequence numbers, dates and terms of one domain's XPT file."""
    dataset = build_sdtm(domain, _subjects(tiny_ct), study_id="LIVERBURDEN")
    path = tmp_path / f"{domain.lower()}.xpt"
    path.write_bytes(dataset.to_xpt())
    frame, meta = pyreadstat.read_xport(str(path))
    assert meta.table_name.upper() == domain and len(meta.table_name) <= 8
    assert meta.file_label and len(meta.file_label) <= 40
    for name in meta.column_names:
        assert re.fullmatch(r"[A-Z][A-Z0-9]{0,7}", name), name
    for name, label in meta.column_names_to_labels.items():
        assert label and len(label) <= 40, (name, label)
    rows: list[dict[str, Any]] = frame.to_dict("records")
    assert rows, "no rows"
    for row in rows:
        assert row["DOMAIN"] == domain and row["STUDYID"] == "LIVERBURDEN"
        for name, value in row.items():
            if isinstance(value, str):
                assert len(value.encode("utf-8")) <= 200, (name, value)
            if name.endswith("DTC") and value:
                assert ISO_8601.match(value), (name, value)
            if name in TERMS:
                assert (value or "") in TERMS[name], (name, value)
    seq = f"{domain}SEQ"
    keys = [(row["USUBJID"], row[seq]) for row in rows]
    assert len(keys) == len(set(keys)), "--SEQ repeats within a subject"
    assert all(float(row[seq]).is_integer() and row[seq] >= 1 for row in rows)
