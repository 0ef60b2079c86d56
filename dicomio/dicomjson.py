"""DICOM JSON of stored headers, and the data dictionary (keyword, tag, VR) behind it.

:func:`read_header_json` parses a header once (no pixel data) and answers the DICOM JSON of chosen
attributes (what a query cache keeps); :func:`metadata_json` gives a whole header, with pixel data
and other large binary values replaced by a ``BulkDataURI`` that the caller builds. The dictionary
look-ups map keywords to tags and back and give a tag's VR.

References
----------
DICOM PS3.18 Annex F (DICOM JSON model), section F.2.5 (``BulkDataURI``).
DICOM PS3.6 section 6 (registry of data elements: tag, keyword, VR).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.datadict import keyword_for_tag as _keyword_for_tag
from pydicom.datadict import tag_for_keyword as _tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from dicomio.errors import CorruptFileError, NotDicomError

__all__ = [
    "PIXEL_DATA_TAGS",
    "HeaderJson",
    "dictionary_vr",
    "keyword_for_tag",
    "metadata_json",
    "read_header_json",
    "tag_for_keyword",
]

logger = logging.getLogger(__name__)

#: Pixel Data, Float Pixel Data, Double Float Pixel Data: always given as bulk data.
PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
_BULK_BYTES = 1024
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
_AVAILABLE_TRANSFER_SYNTAX = "00083002"


def tag_for_keyword(keyword: str) -> int | None:
    """Return the tag of a dictionary keyword (``"StudyDate"`` -> ``0x00080020``), or ``None``."""
    tag = _tag_for_keyword(keyword)
    return None if tag is None else int(tag)


def keyword_for_tag(tag: int) -> str:
    """Return the data dictionary keyword of a tag, ``""`` for private or unknown tags."""
    return str(_keyword_for_tag(tag))


def dictionary_vr(tag: int) -> str:
    """Return the VR of a tag in the data dictionary (``"UN"`` when the tag is not in it)."""
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _read(source: Path | IO[bytes], name: str, **kwargs: Any) -> Dataset:
    """``dcmread`` with library warnings silenced and its errors wrapped (OSError passes)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # odd-but-readable headers are not our concern
            ds: Dataset = pydicom.dcmread(source, **kwargs)
    except InvalidDicomError as exc:
        raise NotDicomError(
            f"{name} is not a DICOM file; expected a DICOM Part 10 file (preamble, 'DICM')"
        ) from exc
    except OSError:
        raise
    except Exception as exc:
        raise CorruptFileError(f"{name}: unreadable DICOM header ({type(exc).__name__})") from exc
    return ds


def _display_name(source: Path | IO[bytes]) -> str:
    return source.name if isinstance(source, Path) else "file"


class HeaderJson:
    """A parsed header (no pixel data) that answers the DICOM JSON of chosen attributes.

    Parameters
    ----------
    dataset
        The header, as read by :func:`read_header_json`.
    """

    __slots__ = ("_ds",)

    def __init__(self, dataset: Dataset) -> None:
        self._ds = dataset

    def attributes(self, keywords: Iterable[str]) -> dict[str, Any]:
        """Return the DICOM JSON of the ``keywords`` in the header (invalid values left out).

        Parameters
        ----------
        keywords
            Data dictionary keywords (``"StudyDate"``, ...).

        Returns
        -------
        dict
            ``{"00080020": {"vr": "DA", "Value": [...]}, ...}`` in tag order.
        """
        ds = self._ds
        sub = Dataset()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for keyword in keywords:
                elem = ds.data_element(keyword) if keyword in ds else None
                if elem is not None:
                    sub.add(elem)
            out: dict[str, Any] = {}
            for elem in sub:
                try:
                    out[f"{int(elem.tag):08X}"] = elem.to_json_dict(None, 0)
                except Exception:  # a malformed value: leave it out
                    logger.warning("attribute %08X has an unusable value; left out", int(elem.tag))
        return out


def read_header_json(source: Path | IO[bytes]) -> HeaderJson:
    """Read a Part 10 header (no pixel data) for :meth:`HeaderJson.attributes`.

    Parameters
    ----------
    source
        A file path, or a binary file positioned at the start of a Part 10 file.

    Raises
    ------
    NotDicomError
        Not a DICOM file.
    CorruptFileError
        The header cannot be parsed.
    OSError
        The file cannot be read.
    """
    return HeaderJson(_read(source, _display_name(source), stop_before_pixels=True))


def _element_json(elem: Any, bulk_url: str) -> dict[str, Any]:
    vr = str(elem.VR)
    if vr in _BINARY_VRS and elem.value is not None and len(elem.value) > _BULK_BYTES:
        return {"vr": vr, "BulkDataURI": bulk_url}
    out: dict[str, Any] = elem.to_json_dict(None, _BULK_BYTES)
    return out


def metadata_json(path: Path, bulk_data_uri: Callable[[str], str]) -> dict[str, Any]:
    """Return a stored instance's header as DICOM JSON, bulk data as links (never read in memory).

    Pixel data (any of :data:`PIXEL_DATA_TAGS`) and binary values over 1 KiB are given as
    ``{"vr": ..., "BulkDataURI": bulk_data_uri(key)}``; Available Transfer Syntax UID (0008,3002)
    is added with the stored transfer syntax. A malformed element is left out (logged by tag).

    Parameters
    ----------
    path
        The Part 10 file.
    bulk_data_uri
        Builds the URI of an attribute's bulk data from its key (8 upper-case hex digits).

    Returns
    -------
    dict
        The DICOM JSON object, keys in tag order.

    Raises
    ------
    NotDicomError
        Not a DICOM file.
    CorruptFileError
        The file cannot be parsed.
    """
    ds = _read(path, path.name, defer_size=_BULK_BYTES)
    out: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tag in PIXEL_DATA_TAGS:
            raw = ds.get_item(tag, keep_deferred=True)
            if raw is not None:
                vr = str(raw.VR or "OW")
                out[f"{tag:08X}"] = {"vr": vr, "BulkDataURI": bulk_data_uri(f"{tag:08X}")}
                del ds[tag]
        for tag in list(ds.keys()):
            key = f"{int(tag):08X}"
            try:
                out[key] = _element_json(ds[tag], bulk_data_uri(key))
            except Exception:  # a malformed element must not hide the rest of the header
                logger.warning("attribute %s has an unusable value; left out of metadata", key)
        transfer_syntax = str(ds.file_meta.TransferSyntaxUID)
    out[_AVAILABLE_TRANSFER_SYNTAX] = {"vr": "UI", "Value": [transfer_syntax]}
    return dict(sorted(out.items()))
