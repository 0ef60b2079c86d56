"""Deterministic UIDs of a phantom: derived from its seed, so every run writes the same study."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydicom.uid import generate_uid

if TYPE_CHECKING:
    from phantoms.spec import PhantomSpec

__all__ = ["PhantomUids", "name_uid", "phantom_uids"]


def name_uid(*parts: object, prefix: str | None = None) -> str:
    """A UID derived from ``parts``: ``2.25.<UUIDv5>`` or ``prefix`` + digits of a hash."""
    name = "\x1f".join(["liverburden-phantom", *(str(p) for p in parts)])
    if prefix is None:
        return f"2.25.{uuid.uuid5(uuid.NAMESPACE_OID, name).int}"
    return str(generate_uid(prefix=prefix, entropy_srcs=[name]))


@dataclass(frozen=True, slots=True)
class PhantomUids:
    """Study, series and frame-of-reference UIDs of a phantom series."""

    study: str
    series: str
    frame_of_reference: str

    def instance(self, number: int) -> str:
        """SOP Instance UID of the ``number``-th instance (1-based) of the series."""
        return name_uid("instance", self.series, number)


def phantom_uids(spec: PhantomSpec) -> PhantomUids:
    """UIDs of ``spec``'s series: the study and frame of reference depend on the seed only."""
    p = spec.uid_prefix
    return PhantomUids(
        study=name_uid("study", spec.seed, prefix=p),
        series=name_uid("series", spec.seed, spec.series_number, prefix=p),
        frame_of_reference=name_uid("frame-of-reference", spec.seed, prefix=p),
    )
