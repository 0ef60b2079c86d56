"""dicomio.instance on open files: identity of an uploaded instance, Part 10 preamble check."""

from __future__ import annotations

import io

import pytest
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID

from dicomio.errors import CorruptFileError, NotDicomError
from dicomio.instance import PART10_PREFIX, lacks_preamble, read_instance_header_from
from dicomio.model import Phase
from tests.dicomio._series_synth import slice_dataset


def _part10(ds: Dataset) -> io.BytesIO:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return buf


def test_identity_of_an_instance() -> None:
    """UIDs, modality, instance number and phase are read from an open Part 10 file."""
    ds = slice_dataset(
        position=(0, 0, 0),
        description="Abdomen portal venous",
        extra={"InstanceNumber": 12},
    )
    header = read_instance_header_from(_part10(ds), "a.dcm")
    assert header.sop_instance_uid == ds.SOPInstanceUID
    assert header.sop_class_uid == ds.SOPClassUID
    assert header.series_instance_uid == ds.SeriesInstanceUID
    assert header.study_instance_uid == ds.StudyInstanceUID
    assert (header.modality, header.instance_number) == ("CT", 12)
    assert header.phase is Phase.PORTAL_VENOUS


def test_phase_from_bolus_timing() -> None:
    """Without a telling description the phase comes from the bolus start and acquisition times."""
    ds = slice_dataset(
        position=(0, 0, 0),
        extra={
            "ContrastBolusAgent": "IOMERON",
            "ContrastBolusStartTime": "100000",
            "AcquisitionTime": "100035",
        },
    )
    assert read_instance_header_from(_part10(ds)).phase is Phase.ARTERIAL


def test_uids_are_returned_as_found() -> None:
    """A missing UID comes back empty: judging UIDs is the caller's policy."""
    ds = slice_dataset(position=(0, 0, 0))
    del ds.SeriesInstanceUID
    header = read_instance_header_from(_part10(ds))
    assert header.series_instance_uid == ""
    assert header.instance_number is None


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (b"not a dicom file at all" * 10, NotDicomError, "x.bin is not a DICOM file"),
        (b"", NotDicomError, "x.bin is not a DICOM file"),
    ],
    ids=["text", "empty"],
)
def test_non_dicom_is_refused(data: bytes, error: type[Exception], message: str) -> None:
    """Bytes that are not a Part 10 file raise NotDicomError naming the file."""
    with pytest.raises(error, match=message):
        read_instance_header_from(io.BytesIO(data), "x.bin")


def test_dicomdir_is_refused() -> None:
    """A DICOMDIR is an index, not an instance: NotDicomError."""
    ds = slice_dataset(position=(0, 0, 0))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.1.3.10")
    with pytest.raises(NotDicomError, match="DICOMDIR"):
        read_instance_header_from(_part10(ds), "DICOMDIR")


def test_malformed_value_is_corrupt() -> None:
    """An Instance Number that is not an IS value raises CorruptFileError, not a library error."""
    ds = slice_dataset(position=(0, 0, 0), extra={"InstanceNumber": 97531})
    data = _part10(ds).getvalue()
    assert data.count(b"97531") == 1
    with pytest.raises(CorruptFileError, match=r"bad\.dcm: malformed value"):
        read_instance_header_from(io.BytesIO(data.replace(b"97531", b"9x5y1")), "bad.dcm")


def test_missing_preamble_is_detected_and_fixed() -> None:
    """File meta without preamble is recognised, and PART10_PREFIX makes it a readable file."""
    ds = slice_dataset(position=(0, 0, 0))
    raw = io.BytesIO()
    dcmwrite(raw, ds, enforce_file_format=False)  # no preamble, file meta first
    data = raw.getvalue()
    if data[:4] == PART10_PREFIX[-4:] or data[128:132] == b"DICM":
        pytest.fail("pydicom wrote a preamble; the test needs a file without one")
    assert lacks_preamble(data[:132])
    assert not lacks_preamble(_part10(ds).read(132))
    fixed = io.BytesIO(PART10_PREFIX + data)
    assert read_instance_header_from(fixed).sop_instance_uid == ds.SOPInstanceUID
