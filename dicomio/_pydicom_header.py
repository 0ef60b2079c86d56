"""The general header path through pydicom, for files the fast scanner does not take.

Used for deflated and big-endian transfer syntaxes, files without file meta, Enhanced
multi-frame objects (functional groups) and anything malformed. Values are read with
``stop_before_pixels`` and ``specific_tags``; plain numeric and code VRs are decoded directly
from the raw element bytes, which is several times faster than pydicom's value conversion.

References
----------
.. [1] pydicom 3 documentation, ``dcmread`` (``specific_tags``, ``stop_before_pixels``).
"""

from __future__ import annotations

import struct
import warnings
from typing import Any, BinaryIO

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from dicomio._fastheader import WANTED

__all__ = ["Getter", "InvalidDicomError", "parse"]

#: The tags read from each header, converted once (pydicom converts keywords on every read).
TAGS = [Tag(tag) for tag, _ in WANTED.values()]
_FAST_VRS = {"DS", "IS", "CS", "UI", "DA", "TM", "DT", "AS"}
_INT_VRS = {"US": "H", "UL": "L", "SS": "h", "SL": "l"}
_TAG_OF = {k: Tag(tag) for k, (tag, _) in WANTED.items()}


def parse(fp: BinaryIO, force: bool) -> Any:
    """Return the header dataset, read up to Pixel Data (library warnings silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(fp, stop_before_pixels=True, force=force, specific_tags=TAGS)


class Getter:
    """Attribute values by keyword; plain ASCII and integer VRs decoded without pydicom.

    Text with a character set (LO, SH, ...) and sequences go through pydicom.
    """

    def __init__(self, ds: Any) -> None:
        self._ds = ds

    def __call__(self, keyword: str) -> Any:
        tag = _TAG_OF.get(keyword) or Tag(keyword)
        elem = self._ds.get_item(tag)
        if elem is None:
            return None
        if isinstance(elem, RawDataElement):
            vr = elem.VR or dictionary_VR(tag)
            raw = elem.value
            if raw is None:
                return None
            if vr in _FAST_VRS:
                text = raw.decode("ascii", "replace").strip("\0 ")
                parts = text.split("\\")
                return [p.strip() for p in parts] if len(parts) > 1 else text
            code = _INT_VRS.get(vr)
            if code is not None:
                n = len(raw) // struct.calcsize(code)
                if n == 0:
                    return None
                fmt = ("<" if elem.is_little_endian else ">") + code * n
                vals = struct.unpack(fmt, raw[: n * struct.calcsize(code)])
                return vals[0] if n == 1 else list(vals)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._ds.get(tag).value if tag in self._ds else None

    def meta(self, keyword: str) -> Any:
        """Return a file meta attribute's value, or ``None``."""
        meta = getattr(self._ds, "file_meta", None)
        return None if meta is None else meta.get(keyword)

    @property
    def little_endian(self) -> bool:
        """Byte order of the dataset as read."""
        return bool(getattr(self._ds, "is_little_endian", True))

    @property
    def implicit(self) -> bool:
        """Whether the dataset was read as implicit VR."""
        return bool(getattr(self._ds, "is_implicit_VR", False))

    @property
    def dataset(self) -> Any:
        """The pydicom dataset (for functional groups)."""
        return self._ds

    def __len__(self) -> int:
        return len(self._ds)
