"""Reproducible identity of the DICOM outputs: derived UIDs and fixed creation timestamps.

Nothing in an SR or SEG is random: every UID the caller does not supply is derived from a seed
with :func:`pydicom.uid.generate_uid` (pydicom's root + the SHA-512 of the parts), and the
creation timestamps highdicom fills in from the clock are overwritten with the time the content
was created. The same inputs then give the same file, byte for byte.

References
----------
.. [1] DICOM PS3.5 9 "Unique Identifiers (UIDs)".
.. [2] DICOM PS3.3 C.12.1 "SOP Common Module" (Instance Creation Date/Time, Contributing
   Equipment Sequence).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["derived_uid", "input_key", "stamp_creation"]

#: ManufacturerModelName of the Contributing Equipment item highdicom adds about itself.
_HIGHDICOM_MODEL = "highdicom"


def input_key(*parts: Any) -> str:
    """SHA-256 (hex) of ``parts``: JSON with sorted keys, other objects by their ``repr``.

    Only for values whose ``repr`` is stable across processes (numbers, strings, frozen
    dataclasses of those); hash arrays first (``hashlib.sha256(a.tobytes())``).
    """
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def derived_uid(seed: str, *parts: str) -> str:
    """Return the UID of ``parts`` under ``seed``: equal inputs give equal UIDs, others differ."""
    # generate_uid concatenates its sources without a separator; one JSON list keeps
    # ("ab", "c") and ("a", "bc") apart.
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=[json.dumps([seed, *parts])]))


def stamp_creation(ds: Dataset, when: dt.datetime) -> None:
    """Set the creation timestamps highdicom took from the clock to ``when`` (written in UTC).

    Instance Creation Date/Time, Content Date/Time (when the IOD has them) and the Contribution
    DateTime of highdicom's Contributing Equipment item. A naive ``when`` is taken as UTC.
    """
    from pydicom.valuerep import DA, DT, TM

    utc = when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when
    ds.InstanceCreationDate = DA(utc.date())
    ds.InstanceCreationTime = TM(utc.time())
    if "ContentDate" in ds:
        ds.ContentDate = DA(utc.date())
    if "ContentTime" in ds:
        ds.ContentTime = TM(utc.time())
    for item in ds.get("ContributingEquipmentSequence", []):
        if item.get("ManufacturerModelName") == _HIGHDICOM_MODEL:
            item.ContributionDateTime = DT(utc)
