"""WADO-RS frames and bulk data: uncompressed pixel bytes of stored instances.

The frame list of the URL is parsed here; the bytes come from :mod:`dicomio.frames` (native layout,
decompressed when stored compressed), whose "no such frame or attribute" errors are answered 404.

References
----------
DICOM PS3.18 section 10.4.1.1.2 (frames), 8.7.3.3 (bulk data media types);
PS3.5 section 8.1.1 and 8.2 (native pixel data encoding, 1-bit packing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from app.errors import InvalidRequestError, NotFoundError
from dicomio import frames
from dicomio.errors import ElementNotFoundError

__all__ = ["bulk_chunks", "frame_bytes", "parse_frame_list"]

_FRAMES_RE = re.compile(r"^\s*\d+\s*(,\s*\d+\s*)*$")
_MAX_FRAMES_PER_REQUEST = 10_000


def parse_frame_list(text: str) -> list[int]:
    """``"1,3,5"`` as frame numbers (1-based); InvalidRequestError otherwise."""
    if not _FRAMES_RE.match(text):
        raise InvalidRequestError(
            f"frame list {text[:40]!r}; expected 1-based frame numbers separated by commas"
        )
    numbers = [int(n) for n in text.split(",")]
    if len(numbers) > _MAX_FRAMES_PER_REQUEST:
        raise InvalidRequestError(f"more than {_MAX_FRAMES_PER_REQUEST} frames in one request")
    return numbers


def _not_found(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """``chunks``, with a frame found missing while reading answered as NotFoundError."""
    try:
        yield from chunks
    except ElementNotFoundError as exc:
        raise NotFoundError(str(exc)) from exc


def _checked(read: Callable[[], Iterator[bytes]]) -> Iterator[bytes]:
    """The chunks of ``read()``; a missing frame or attribute is NotFoundError, now or later."""
    try:
        chunks = read()
    except ElementNotFoundError as exc:
        raise NotFoundError(str(exc)) from exc
    return _not_found(chunks)


def frame_bytes(path: Path, numbers: Sequence[int]) -> Iterator[bytes]:
    """The native bytes of each requested frame (checked first, then read one at a time)."""
    return _checked(lambda: frames.frame_bytes(path, numbers))


def bulk_chunks(path: Path, tag: int) -> Iterator[bytes]:
    """The bytes of a top-level binary attribute; for pixel data, every frame uncompressed."""
    return _checked(lambda: frames.bulk_data_chunks(path, tag))
