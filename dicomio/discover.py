"""Find the DICOM series in a folder, file or zip, reading headers only.

Files are grouped by SeriesInstanceUID. A file whose SeriesInstanceUID is empty (some exporters
write it empty and keep only the file meta's SOP instance UID) is grouped with files of the same
study, frame of reference, modality, series number, description, orientation and matrix, under a
derived key: a stable ``2.25.`` UID computed from those values. Non-image objects (SEG, RTSTRUCT,
SR, RT plans, ...) are listed with their modality but are not image series. Files that are not
DICOM are skipped and counted; an input with no DICOM file at all is an error.

References
----------
.. [1] DICOM PS3.3 section C.7.3.1, "General Series Module" (SeriesInstanceUID).
.. [2] DICOM PS3.4 section B.5, "Standard SOP Classes".
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from dicomio._headers import Header, read_header
from dicomio.archive import InputFiles, open_input
from dicomio.errors import CorruptFileError, NotDicomError
from dicomio.model import Phase, SeriesSummary
from dicomio.phase import study_phases

#: Below this many files a thread pool costs more than it saves.
_THREADED_MIN_FILES = 16
_HEADER_THREADS = 2

__all__ = ["IMAGE_SOP_CLASSES", "SeriesSummary", "discover", "scan_input"]

logger = logging.getLogger(__name__)

#: SOP classes read as image series (CT and MR, classic and multi-frame).
IMAGE_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.2": "CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT Image Storage",
    "1.2.840.10008.5.1.4.1.1.4": "MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR Image Storage",
    "1.2.840.10008.5.1.4.1.1.4.4": "Legacy Converted Enhanced MR Image Storage",
}


@dataclass(slots=True)
class Scan:
    """Everything read from one input's headers (internal to dicomio)."""

    inputs: InputFiles
    groups: dict[str, list[Header]]
    summaries: list[SeriesSummary]
    not_dicom: list[str] = field(default_factory=list)
    corrupt: list[CorruptFileError] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """Human-readable notes about skipped files."""
        out = []
        if self.not_dicom:
            ex = ", ".join(repr(n) for n in self.not_dicom[:3])
            out.append(f"skipped {len(self.not_dicom)} file(s) that are not DICOM (e.g. {ex})")
        if self.inputs.skipped:
            out.append(f"skipped {self.inputs.skipped} hidden file(s) or DICOMDIR index(es)")
        return out


def is_image_header(h: Header) -> bool:
    """Whether a file is a CT/MR image that can take part in a volume."""
    return h.sop_class_uid in IMAGE_SOP_CLASSES and h.rows > 0 and h.columns > 0


def _group_key(h: Header) -> str:
    if h.series_uid:
        return h.series_uid
    ori = h.frame_geoms[0].orientation
    ori_key = ",".join(f"{v:.3f}" for v in ori) if ori else ""
    parts = [
        h.study_uid,
        h.frame_of_reference_uid,
        h.modality,
        str(h.series_number),
        h.series_description,
        ori_key,
        f"{h.rows}x{h.columns}",
        h.sop_class_uid,
    ]
    digest = hashlib.sha256("\\".join(["liverburden-series", *parts]).encode()).hexdigest()
    return f"2.25.{int(digest[:32], 16)}"


def _summarise(key: str, headers: Sequence[Header]) -> SeriesSummary:
    first = headers[0]
    times = [h.acquisition_time for h in headers if h.acquisition_time is not None]
    delay = None
    starts = [h.contrast_start_s for h in headers if h.contrast_start_s is not None]
    acq = [h.acquisition_s for h in headers if h.acquisition_s is not None]
    if starts and acq:
        delay = min(acq) - min(starts)
        if delay < -43200:  # acquisition after midnight, bolus before
            delay += 86400
    return SeriesSummary(
        key=key,
        series_instance_uid=first.series_uid or None,
        study_instance_uid=first.study_uid or None,
        modality=first.modality,
        series_description=first.series_description,
        series_number=first.series_number,
        sop_class_uid=first.sop_class_uid,
        instance_count=len(headers),
        frame_count=sum(h.frames for h in headers),
        is_image=any(is_image_header(h) for h in headers),
        acquisition_time=min(times) if times else None,
        files=tuple(h.path for h in headers),
        contrast_agent=next((h.contrast_agent for h in headers if h.contrast_agent), None)
        or first.contrast_agent,
        contrast_route=first.contrast_route,
        contrast_delay_s=delay,
    )


def _read_one(path: Path, hash_files: bool) -> Header | CorruptFileError | None:
    try:
        header = read_header(path, hash_file=hash_files)
    except CorruptFileError as exc:
        return exc
    except OSError as exc:
        return CorruptFileError(f"file {path.name!r} cannot be read ({exc.strerror or exc})")
    if (
        header is not None
        and header.sop_class_uid in IMAGE_SOP_CLASSES
        and (header.rows <= 0 or header.columns <= 0)
    ):
        # Rows and Columns are Type 1: a file cut between two elements, or a malformed one.
        return CorruptFileError(
            f"file {path.name!r} is a {IMAGE_SOP_CLASSES[header.sop_class_uid]} instance "
            "without a valid Rows and Columns (truncated or malformed); expected an image"
        )
    return header


def _read_headers(
    files: Sequence[Path], hash_files: bool
) -> Iterator[tuple[Path, Header | CorruptFileError | None]]:
    """Headers of ``files`` in order; two threads, so hashing (GIL released) overlaps parsing."""
    if len(files) < _THREADED_MIN_FILES:
        for path in files:
            yield path, _read_one(path, hash_files)
        return
    with ThreadPoolExecutor(max_workers=_HEADER_THREADS) as pool:
        yield from zip(files, pool.map(_read_one, files, [hash_files] * len(files)), strict=True)


def scan_input(inputs: InputFiles, *, hash_files: bool = False) -> Scan:
    """Read every file's header once and group the DICOM files into series.

    Raises
    ------
    NotDicomError
        No file of the input is DICOM.
    CorruptFileError
        Every DICOM-looking file is unreadable.
    """
    groups: dict[str, list[Header]] = defaultdict(list)
    not_dicom: list[str] = []
    corrupt: list[CorruptFileError] = []
    for path, header_or_error in _read_headers(inputs.files, hash_files):
        if isinstance(header_or_error, CorruptFileError):
            corrupt.append(header_or_error)
            continue
        header = header_or_error
        if header is None:
            not_dicom.append(inputs.display_name(path))
            continue
        groups[_group_key(header)].append(header)
    if not groups:
        if corrupt:
            raise corrupt[0]
        n = len(inputs.files)
        what = "the file is not" if n == 1 else f"none of the {n} files is"
        ex = f" (e.g. {not_dicom[0]!r})" if n > 1 else f" ({not_dicom[0]!r})"
        raise NotDicomError(
            f"{what} DICOM{ex}; expected DICOM files (with the 'DICM' prefix), a zip of them, "
            "or a NIfTI/NRRD image"
        )
    summaries = [_summarise(k, hs) for k, hs in groups.items()]
    phases = study_phases(summaries)
    summaries = [replace(s, phase=phases.get(s.key, Phase.UNKNOWN)) for s in summaries]
    summaries.sort(
        key=lambda s: (
            s.study_instance_uid or "",
            not s.is_image,
            s.series_number if s.series_number is not None else 1 << 30,
            s.key,
        )
    )
    scan = Scan(inputs, dict(groups), summaries, not_dicom, corrupt)
    for w in scan.warnings:
        logger.info("%s", w)
    for problem in corrupt:
        logger.info("unreadable DICOM file skipped: %s", problem)
    return scan


def discover(path: Path) -> list[SeriesSummary]:
    """List the series in a folder (recursive), a DICOM file, or a zip, reading headers only.

    Parameters
    ----------
    path
        Folder, file or zip archive.

    Returns
    -------
    list of SeriesSummary
        Image and non-image series, ordered by study, images first, then series number; each
        image series carries its contrast :class:`~dicomio.model.Phase`. For a zip input the
        ``files`` paths pointed into a temporary folder that no longer exists on return: use
        :func:`dicomio.read_series` with the summary's ``key`` to read a series.

    Raises
    ------
    InputNotFoundError, ArchiveError, NotDicomError, CorruptFileError
        See :func:`dicomio.archive.open_input` and :func:`scan_input`.
    """
    with open_input(Path(path)) as inputs:
        return scan_input(inputs).summaries
