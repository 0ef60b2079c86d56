"""dicomio.dicomjson: data dictionary look-ups, DICOM JSON of chosen attributes, full metadata."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from dicomio.dicomjson import (
    PIXEL_DATA_TAGS,
    dictionary_vr,
    keyword_for_tag,
    metadata_json,
    read_header_json,
    tag_for_keyword,
)
from dicomio.errors import NotDicomError
from tests.dicomio._series_synth import slice_dataset, write


@pytest.mark.parametrize(
    ("keyword", "tag", "vr"),
    [
        ("StudyDate", 0x00080020, "DA"),
        ("StudyInstanceUID", 0x0020000D, "UI"),
        ("PatientName", 0x00100010, "PN"),
        ("NumberOfStudyRelatedInstances", 0x00201208, "IS"),
        ("PixelData", 0x7FE00010, "OB or OW"),
    ],
    ids=["date", "uid", "person-name", "count", "pixel-data"],
)
def test_dictionary_round_trip(keyword: str, tag: int, vr: str) -> None:
    """Keyword, tag and VR agree with the PS3.6 registry in both directions."""
    assert tag_for_keyword(keyword) == tag
    assert keyword_for_tag(tag) == keyword
    assert dictionary_vr(tag) == vr


@pytest.mark.parametrize(
    ("tag", "keyword", "vr"),
    [(0x00091010, "", "UN"), (0x7777_0010, "", "UN")],
    ids=["private", "unknown-group"],
)
def test_dictionary_unknown_tags(tag: int, keyword: str, vr: str) -> None:
    """Tags outside the dictionary have no keyword and VR UN."""
    assert keyword_for_tag(tag) == keyword
    assert dictionary_vr(tag) == vr


def test_unknown_keyword_has_no_tag() -> None:
    """A keyword not in the dictionary gives None, not an error."""
    assert tag_for_keyword("NoSuchKeywordAnywhere") is None


def test_attributes_of_a_header(tmp_path: Path) -> None:
    """Only the asked-for attributes that are present come back, keyed by tag, in DICOM JSON."""
    ds = slice_dataset(position=(0, 0, 0), extra={"StudyDate": "20240315", "InstanceNumber": 3})
    path = write(ds, tmp_path / "a.dcm")
    header = read_header_json(path)
    out = header.attributes(["StudyDate", "InstanceNumber", "AccessionNumber", "PatientName"])
    assert out == {
        "00080020": {"vr": "DA", "Value": ["20240315"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "SYNTH^PATIENT"}]},
        "00200013": {"vr": "IS", "Value": [3]},
    }
    assert header.attributes([]) == {}


def test_header_from_an_open_file(tmp_path: Path) -> None:
    """An open binary file is read like a path."""
    ds = slice_dataset(position=(0, 0, 0))
    data = write(ds, tmp_path / "a.dcm").read_bytes()
    header = read_header_json(io.BytesIO(data))
    assert header.attributes(["SOPInstanceUID"]) == {
        "00080018": {"vr": "UI", "Value": [ds.SOPInstanceUID]}
    }


def test_non_dicom_header_is_refused(tmp_path: Path) -> None:
    """A file that is not DICOM raises NotDicomError naming only the file."""
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello" * 100)
    with pytest.raises(NotDicomError, match=r"^notes\.txt is not a DICOM file"):
        read_header_json(path)


def test_metadata_gives_bulk_data_as_links(tmp_path: Path) -> None:
    """Pixel data and long binary values become BulkDataURIs; short values stay inline."""
    ds = slice_dataset(position=(0, 0, 0), pixels=np.zeros((40, 40), np.uint16))
    ds.add_new(0x00091010, "OB", b"\x01" * 2000)  # long private binary value
    ds.add_new(0x00091011, "OB", b"\x02\x03")  # short one
    path = write(ds, tmp_path / "a.dcm")
    out = metadata_json(path, lambda key: f"http://x/bulk/{key}")
    assert out["7FE00010"] == {"vr": "OW", "BulkDataURI": "http://x/bulk/7FE00010"}
    assert out["00091010"] == {"vr": "OB", "BulkDataURI": "http://x/bulk/00091010"}
    assert out["00091011"]["InlineBinary"] == "AgM="
    assert out["00083002"] == {"vr": "UI", "Value": ["1.2.840.10008.1.2.1"]}
    assert out["00080018"] == {"vr": "UI", "Value": [ds.SOPInstanceUID]}
    assert list(out) == sorted(out)
    assert 0x7FE00010 in PIXEL_DATA_TAGS
