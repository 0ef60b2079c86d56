"""A label map checked against its series before it is stored.

``POST /v1/segmentations`` reads the uploaded NIfTI/NRRD file onto the stored series' grid exactly
as a measurement would (:func:`dicomio.read_series_and_labels`: header first, then the voxels),
so a label map of another grid or region, or a corrupt one, is refused at the door with the
reason, instead of failing a job later. Nothing is stored when the check fails.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

import dicomio
from app.db import repo
from app.store.blobs import BlobStore

__all__ = ["check_label_map"]


def check_label_map(
    session: Session, blobs: BlobStore, series_uid: str, label_file: Path, scratch_dir: Path
) -> None:
    """Refuse a label map that does not fit the stored series ``series_uid``.

    Raises :class:`dicomio.errors.LabelError` (or another DICOM input error) unless
    ``label_file`` fits.
    """
    series = repo.get_series(session, series_uid)
    shas = [inst.sha256 for inst in repo.series_instances(session, series)]
    scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labelcheck-", dir=scratch_dir) as tmp:
        folder = blobs.link_series(shas, Path(tmp) / "series")
        dicomio.read_series_and_labels(folder, label_file, series_uid)
