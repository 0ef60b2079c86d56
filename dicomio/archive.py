"""Turn an input path (a folder, a single file or a ``.zip``) into a list of files, safely.

A folder is searched recursively; hidden files and folders (names starting with ``.``), the
``DICOMDIR`` index and ``__MACOSX`` resource forks are skipped. A zip is extracted into a private
temporary folder that lives as long as the ``with`` block, after every member has been checked:

- zip slip: absolute names, drive letters and ``..`` components are refused;
- symbolic links, encrypted members and nested archives are refused;
- zip bombs: the member count, the total uncompressed size and the compression ratio of large
  members are limited (:class:`ArchiveLimits`), and the bytes actually written are counted while
  extracting, so a header that lies about its sizes cannot get past the limits either.

References
----------
.. [1] Snyk, "Zip Slip Vulnerability", 2018.
.. [2] DICOM PS3.10 section 8.6, "DICOMDIR": the index file of a media set, not an instance.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dicomio.errors import ArchiveError, InputNotFoundError

__all__ = ["ArchiveLimits", "InputFiles", "is_zip", "open_input"]

logger = logging.getLogger(__name__)

_GIB = 1 << 30
_MIB = 1 << 20
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Limits applied to a zip before and while extracting it.

    Parameters
    ----------
    max_total_bytes
        Largest total uncompressed size (default 4 GiB).
    max_members
        Largest number of members (default 100 000).
    max_ratio
        Largest uncompressed/compressed ratio of one member (default 200:1) ...
    ratio_min_bytes
        ... checked only for members larger than this (default 1 MiB): small files of zeros
        compress well and are harmless.
    """

    max_total_bytes: int = 4 * _GIB
    max_members: int = 100_000
    max_ratio: float = 200.0
    ratio_min_bytes: int = _MIB


@dataclass(frozen=True, slots=True)
class InputFiles:
    """The files of one input, ready to read.

    ``files`` are sorted; for a zip they live in a temporary folder that is removed when the
    :func:`open_input` block ends. ``skipped`` counts hidden files and DICOMDIR indexes.
    """

    root: Path
    files: tuple[Path, ...]
    source_kind: str  # "folder" | "file" | "zip"
    skipped: int = 0

    def display_name(self, path: Path) -> str:
        """A file's name relative to the input, for messages (never the full original path)."""
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.name


def is_zip(path: Path) -> bool:
    """Whether ``path`` is a file that starts like a zip archive (by content, not by name)."""
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError:
        return False
    return magic in (b"PK\x03\x04", b"PK\x05\x06")


def _skip_name(name: str) -> bool:
    return name.startswith(".") or name.upper() == "DICOMDIR" or name == "__MACOSX"


def _walk_folder(root: Path) -> tuple[list[Path], int]:
    files: list[Path] = []
    skipped = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        keep = [d for d in dirnames if not _skip_name(d)]
        skipped += len(dirnames) - len(keep)
        dirnames[:] = sorted(keep)
        for name in sorted(filenames):
            if _skip_name(name):
                skipped += 1
                continue
            p = Path(dirpath) / name
            if p.is_file():
                files.append(p)
    files.sort()
    return files, skipped


def _safe_member_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, ``None`` for entries to skip; raise on unsafe names."""
    raw = info.filename.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise ArchiveError(
            f"zip member {raw!r} has an absolute path; expected paths relative to the archive"
        )
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(
            f"zip member {raw!r} points outside the archive ('..'); expected relative paths "
            "inside it"
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ArchiveError(f"zip member {raw!r} is a symbolic link; expected regular files only")
    if info.flag_bits & 0x1:
        raise ArchiveError(f"zip member {raw!r} is encrypted; expected an unencrypted zip")
    if not parts or info.is_dir() or any(_skip_name(p) for p in parts):
        return None
    if parts[-1].lower().endswith(".zip"):
        raise _nested(raw)
    return PurePosixPath(*parts)


def _nested(name: str) -> ArchiveError:
    return ArchiveError(
        f"zip member {name!r} is itself a zip; expected DICOM files directly inside one zip "
        "(nested archives are not extracted)"
    )


def _check_limits(infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    if len(infos) > limits.max_members:
        raise ArchiveError(f"zip has {len(infos)} members; the limit is {limits.max_members}")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > limits.ratio_min_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise ArchiveError(
                    f"zip member {info.filename!r} expands {ratio:.0f}:1 "
                    f"({info.file_size} bytes); the limit is {limits.max_ratio:.0f}:1 "
                    "(suspected zip bomb)"
                )
    if total > limits.max_total_bytes:
        raise ArchiveError(
            f"zip expands to {total} bytes; the limit is {limits.max_total_bytes} bytes"
        )


def _extract(zf: zipfile.ZipFile, dest: Path, limits: ArchiveLimits) -> list[Path]:
    infos = zf.infolist()
    _check_limits(infos, limits)
    written_total = 0
    out: list[Path] = []
    seen: set[str] = set()
    for info in infos:
        rel = _safe_member_path(info)
        if rel is None:
            continue
        key = rel.as_posix().lower()
        if key in seen:
            raise ArchiveError(f"zip holds member {rel.as_posix()!r} twice; expected unique names")
        seen.add(key)
        target = dest.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        member_written = 0
        with zf.open(info) as src, open(target, "wb") as dst:
            while chunk := src.read(_COPY_CHUNK):
                member_written += len(chunk)
                written_total += len(chunk)
                if member_written > info.file_size:
                    raise ArchiveError(
                        f"zip member {info.filename!r} is larger than its header says "
                        f"({info.file_size} bytes); expected an intact archive"
                    )
                if written_total > limits.max_total_bytes:
                    raise ArchiveError(
                        f"zip expands to more than {limits.max_total_bytes} bytes; that is the "
                        "limit"
                    )
                dst.write(chunk)
        if is_zip(target):
            raise _nested(rel.as_posix())
        out.append(target)
    out.sort()
    return out


@contextmanager
def open_input(path: Path, *, limits: ArchiveLimits | None = None) -> Iterator[InputFiles]:
    """Yield the files of a folder (recursive), a single file, or a zip (extracted safely).

    Parameters
    ----------
    path
        A folder, a file, or a zip archive (recognised by content).
    limits
        Zip limits; :class:`ArchiveLimits` defaults when ``None``.

    Raises
    ------
    InputNotFoundError
        The path does not exist, or a folder/zip holds no files.
    ArchiveError
        The zip is unreadable or unsafe (see the module docstring).
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(
            f"input {path.name!r} does not exist; expected a folder, file or zip"
        )
    if path.is_dir():
        files, skipped = _walk_folder(path)
        if not files:
            raise InputNotFoundError(
                f"folder {path.name!r} holds no files; expected DICOM files (searched recursively)"
            )
        yield InputFiles(root=path, files=tuple(files), source_kind="folder", skipped=skipped)
        return
    if not is_zip(path):
        yield InputFiles(root=path.parent, files=(path,), source_kind="file")
        return
    tmp = Path(tempfile.mkdtemp(prefix="liverburden-zip-"))
    try:
        try:
            with zipfile.ZipFile(path) as zf:
                files = _extract(zf, tmp, limits or ArchiveLimits())
        except ArchiveError:
            raise
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            EOFError,
            NotImplementedError,
            ValueError,  # e.g. a member name flagged UTF-8 that is not
            zlib.error,
        ) as exc:
            raise ArchiveError(
                f"zip {path.name!r} cannot be read ({exc}); expected an intact zip archive"
            ) from exc
        except OSError as exc:
            raise ArchiveError(
                f"zip {path.name!r} could not be extracted ({exc.strerror or exc})"
            ) from exc
        if not files:
            raise InputNotFoundError(f"zip {path.name!r} holds no files; expected DICOM files")
        logger.debug("extracted %d zip members", len(files))
        yield InputFiles(root=tmp, files=tuple(files), source_kind="zip")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
