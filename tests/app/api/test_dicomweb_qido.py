"""QIDO-RS: attribute matching rules (PS3.4 C.2.2.2) and the query features over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

from app.archive.matching import Filter, matches, parse_query
from app.errors import InvalidRequestError
from app.settings import Settings
from tests.app._dicomweb_helpers import multipart, synthetic_instance, to_bytes
from tests.app.conftest import Service, running_service


def _el(vr: str, *values: Any) -> dict[str, Any]:
    return {"vr": vr, "Value": list(values)}


@pytest.mark.parametrize(
    ("vr", "query", "element", "expected"),
    [
        ("UI", "1.2.3", _el("UI", "1.2.3"), True),
        ("UI", "1.2.3", _el("UI", "1.2.30"), False),
        ("UI", "1.2.4,1.2.3", _el("UI", "1.2.3"), True),
        ("UI", "1.2.4\\1.2.3", _el("UI", "1.2.3"), True),
        ("DA", "20240101-20241231", _el("DA", "20240315"), True),
        ("DA", "20240101-20240301", _el("DA", "20240315"), False),
        ("DA", "-20240315", _el("DA", "20240315"), True),
        ("DA", "20240316-", _el("DA", "20240315"), False),
        ("DA", "20240315", _el("DA", "20240315"), True),
        ("TM", "1000-1100", _el("TM", "101500"), True),
        ("TM", "10:30-11:00", _el("TM", "101500"), False),
        ("CS", "CT", _el("CS", "MR", "CT"), True),
        ("CS", "ct", _el("CS", "CT"), False),
        ("LO", "liv*", _el("LO", "liver portal"), True),
        ("LO", "l?ver*", _el("LO", "liver portal"), True),
        ("LO", "*arterial", _el("LO", "liver portal"), False),
        ("PN", "doe*", _el("PN", {"Alphabetic": "Doe^John"}), True),
        ("PN", "smith*", _el("PN", {"Alphabetic": "Doe^John"}), False),
        ("IS", "3", _el("IS", 3), True),
        ("IS", "03", _el("IS", 3), True),
        ("IS", "4", _el("IS", 3), False),
        ("LO", "", None, True),
        ("LO", "*", None, True),
        ("LO", "x", None, False),
        ("LO", "a.b(c)", _el("LO", "a.b(c)"), True),
    ],
    ids=[
        "uid-exact",
        "uid-not-prefix",
        "uid-list-comma",
        "uid-list-backslash",
        "date-range-in",
        "date-range-out",
        "date-open-start",
        "date-open-end",
        "date-exact",
        "time-range-in",
        "time-range-out",
        "multi-valued",
        "cs-case-sensitive",
        "wildcard-star",
        "wildcard-question",
        "wildcard-no-match",
        "pn-ignores-case",
        "pn-no-match",
        "number",
        "number-leading-zero",
        "number-no-match",
        "empty-is-universal",
        "star-is-universal",
        "absent-no-match",
        "regex-chars-literal",
    ],
)
def test_attribute_matching(
    vr: str, query: str, element: dict[str, Any] | None, expected: bool
) -> None:
    """Each matching type of PS3.4 C.2.2.2 accepts and refuses what it should."""
    assert matches(Filter(0x00080020, vr, query), element) is expected


def test_query_parsing_reads_keywords_tags_and_paging() -> None:
    """Keywords and tags name attributes; unsupported ones are reported; paging is read."""
    q = parse_query(
        [
            ("StudyDate", "2024"),
            ("00080060", "CT"),
            ("limit", "5"),
            ("offset", "2"),
            ("includefield", "StudyDescription,00080090"),
            ("PatientAge", "050Y"),
            ("fuzzymatching", "true"),
        ],
        frozenset({0x00080020, 0x00080060}),
    )
    assert [(f.tag, f.vr) for f in q.filters] == [(0x00080020, "DA"), (0x00080060, "CS")]
    assert (q.limit, q.offset, q.include) == (5, 2, frozenset({0x00081030, 0x00080090}))
    assert q.ignored == ("PatientAge",)


@pytest.mark.parametrize(
    "params",
    [[("NotAKeyword", "x")], [("limit", "-1")], [("offset", "abc")]],
    ids=["unknown-keyword", "negative-limit", "non-numeric-offset"],
)
def test_bad_query_parameters_are_refused(params: list[tuple[str, str]]) -> None:
    """Unknown attributes and malformed paging are invalid requests."""
    with pytest.raises(InvalidRequestError):
        parse_query(params, frozenset())


@pytest.fixture(scope="module")
def three_studies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, list[str]]]:
    """A service with three synthetic studies (dates 2023, 2024, 2025), stored by STOW-RS."""
    home = tmp_path_factory.mktemp("qido")
    with running_service(Settings(home=home / "home", workers=0)) as svc:
        uids: list[str] = []
        for n, (date, description) in enumerate(
            [("20230110", "LIVER arterial"), ("20240315", "LIVER portal"), ("20250620", "chest")]
        ):
            study = pydicom.uid.generate_uid()
            series = pydicom.uid.generate_uid()
            parts = []
            for k in range(1, 4):
                ds = synthetic_instance(study, series, k, seed=n)
                ds.StudyDate = date
                ds.StudyDescription = description
                ds.AccessionNumber = f"ACC{n}"
                ds.SeriesNumber = n + 1
                parts.append(to_bytes(ds))
            body, ctype = multipart(parts)
            r = svc.client().post(
                "/dicomweb/studies", content=body, headers={"Content-Type": ctype}
            )
            assert r.status_code == 200, r.text
            uids.append(study)
        yield svc, uids


def _client(svc: Service) -> DICOMwebClient:
    return DICOMwebClient(
        url=f"{svc.url}/dicomweb", headers={"Authorization": f"Bearer {svc.keys['radiologist']}"}
    )


def _study_uids(found: list[dict[str, Any]]) -> list[str]:
    return [Dataset.from_json(d).StudyInstanceUID for d in found]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"StudyDate": "20240101-20251231"}, [1, 2]),
        ({"StudyDate": "-20231231"}, [0]),
        ({"StudyDescription": "LIVER*"}, [0, 1]),
        ({"00081030": "*portal"}, [1]),
        ({"AccessionNumber": "ACC2"}, [2]),
        ({"ModalitiesInStudy": "CT"}, [0, 1, 2]),
        ({"ModalitiesInStudy": "MR"}, []),
        ({"PatientName": "synthetic*"}, [0, 1, 2]),
        ({"PatientID": "nobody"}, []),
    ],
    ids=[
        "date-range",
        "date-open",
        "wildcard",
        "by-tag",
        "accession",
        "modality",
        "no-modality",
        "patient-name",
        "patient-id",
    ],
)
def test_qido_study_matching_over_http(
    three_studies: tuple[Service, list[str]], filters: dict[str, str], expected: list[int]
) -> None:
    """Study-level query keys select exactly the matching studies."""
    svc, uids = three_studies
    found = _client(svc).search_for_studies(search_filters=filters)
    assert _study_uids(found) == [uids[i] for i in expected]


def test_qido_limit_offset_and_uid_list(three_studies: tuple[Service, list[str]]) -> None:
    """limit/offset page the matches in a stable order; a UID list selects several studies."""
    svc, uids = three_studies
    client = _client(svc)
    assert _study_uids(client.search_for_studies(limit=2)) == uids[:2]
    assert _study_uids(client.search_for_studies(limit=2, offset=2)) == uids[2:]
    listed = client.search_for_studies(search_filters={"StudyInstanceUID": f"{uids[2]},{uids[0]}"})
    assert _study_uids(listed) == [uids[0], uids[2]]


def test_qido_includefield_and_series_level_keys(three_studies: tuple[Service, list[str]]) -> None:
    """includefield adds study attributes to series results; series keys match at that level."""
    svc, uids = three_studies
    client = _client(svc)
    plain = Dataset.from_json(client.search_for_series(uids[1])[0])
    assert "StudyDate" not in plain
    assert plain.SeriesNumber == 2
    extra = client.search_for_series(uids[1], fields=["StudyDate"])
    assert Dataset.from_json(extra[0]).StudyDate == "20240315"
    everything = Dataset.from_json(client.search_for_series(uids[1], fields=["all"])[0])
    assert everything.StudyDescription == "LIVER portal"
    across = client.search_for_series(search_filters={"SeriesNumber": "3"})
    assert [Dataset.from_json(s).StudyInstanceUID for s in across] == [uids[2]]
    instances = client.search_for_instances(search_filters={"InstanceNumber": "2"})
    assert len(instances) == 3
    in_2023 = {"StudyDate": "20230101-20231231"}
    in_study = client.search_for_instances(uids[0], search_filters=in_2023)
    assert len(in_study) == 3


def test_qido_unsupported_key_is_ignored_with_warning(
    three_studies: tuple[Service, list[str]],
) -> None:
    """A valid attribute that cannot be matched is ignored and named in a Warning header."""
    svc, _ = three_studies
    r = svc.client().get("/dicomweb/studies", params={"PatientAge": "050Y"})
    assert r.status_code == 200
    assert len(r.json()) == 3
    assert "PatientAge" in r.headers["warning"]
    bad = svc.client().get("/dicomweb/studies", params={"NoSuchKeyword": "x"})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


def test_qido_fills_the_cache_of_instances_uploaded_over_rest(service: Service) -> None:
    """Instances stored by POST /v1/uploads are found by attribute once queried."""
    svc = service
    study = pydicom.uid.generate_uid()
    ds = synthetic_instance(study, pydicom.uid.generate_uid(), 1)
    ds.StudyDate = "19990101"
    files = [("files", ("a.dcm", to_bytes(ds), "application/dicom"))]
    assert svc.client().post("/v1/uploads", files=files).status_code == 201
    found = _client(svc).search_for_studies(search_filters={"StudyDate": "19990101"})
    assert _study_uids(found) == [study]
