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
import lzma
import os
import posixpath
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from dicomio.errors import ArchiveError, InputNotFoundError

__all__ = [
    "ArchiveLimits",
    "InputFiles",
    "copy_member",
    "is_zip",
    "is_zip_stream",
    "open_input",
    "open_zip",
    "zip_members",
]

logger = logging.getLogger(__name__)

_GIB = 1 << 30
_MIB = 1 << 20
_COPY_CHUNK = 1 << 20
#: What :mod:`zipfile` raises on damaged archives besides BadZipFile: bad offsets (ValueError,
#: also undecodable names), unsupported methods or strong encryption (NotImplementedError), and
#: the decompressors' own errors. OSError is handled apart (see :func:`copy_member`).
_ZIP_DAMAGE: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    ValueError,
    NotImplementedError,
    zlib.error,
    lzma.LZMAError,
)
#: ... and what opening one may raise: a file that cannot be read at all is damage there too.
_ZIP_OPEN_ERRORS: tuple[type[Exception], ...] = (*_ZIP_DAMAGE, OSError)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """Limits applied to a zip before and while reading it (the service's come from its settings).

    Parameters
    ----------
    max_total_bytes
        Largest total uncompressed size (default 8 GiB).
    max_members
        Largest number of files (default 20 000).
    max_ratio
        Largest uncompressed/compressed ratio of one member (default 200:1) ...
    ratio_min_bytes
        ... checked only for members larger than this (default 1 MiB): small files of zeros
        compress well and are harmless.
    """

    max_total_bytes: int = 8 * _GIB
    max_members: int = 20_000
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
        """Return a file's name relative to the input, for messages (never the full path)."""
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
            return is_zip_stream(fh)
    except OSError:
        return False


def is_zip_stream(fp: IO[bytes]) -> bool:
    """Whether a seekable binary file starts like a zip archive; its position is kept."""
    start = fp.tell()
    head = fp.read(4)
    fp.seek(start)
    return head in _ZIP_MAGIC


def _skip_name(name: str) -> bool:
    return name.startswith(".") or name.upper() == "DICOMDIR" or name in ("__MACOSX", "Thumbs.db")


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


def _base(info: zipfile.ZipInfo) -> str:
    """Return a member's file name without folders, for messages (folders may name a patient)."""
    return posixpath.basename(info.filename.replace("\\", "/").rstrip("/")) or "?"


def _safe_member_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """Return the member's relative path, ``None`` for entries to skip; raise on unsafe names."""
    raw = info.filename.replace("\\", "/")
    name = _base(info)
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise ArchiveError(
            f"zip member {name!r} has an absolute path (zip slip); expected paths relative to "
            "the archive"
        )
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(
            f"zip member {name!r} points outside the archive ('..', zip slip); expected paths "
            "inside it"
        )
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ArchiveError(f"zip member {name!r} is a symbolic link; expected regular files only")
    if info.flag_bits & 0x1:
        raise ArchiveError(f"zip member {name!r} is encrypted; expected an unencrypted zip")
    if not parts or any(_skip_name(p) for p in parts):
        return None
    if parts[-1].lower().endswith(".zip"):
        raise _nested(name)
    return PurePosixPath(*parts)


def _nested(name: str) -> ArchiveError:
    return ArchiveError(
        f"zip member {name!r} is itself a zip; nested archives are refused, expected DICOM files "
        "directly inside one zip"
    )


def open_zip(file: Path | IO[bytes]) -> zipfile.ZipFile:
    """Open a zip archive, refusing an unreadable one with :class:`ArchiveError`."""
    try:
        return zipfile.ZipFile(file)
    except _ZIP_OPEN_ERRORS as exc:
        raise ArchiveError("zip archive cannot be read; expected an intact .zip file") from exc


def zip_members(
    zf: zipfile.ZipFile, limits: ArchiveLimits
) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Check a whole archive before anything in it is read; return the members to read.

    Refused with :class:`ArchiveError`: more files than ``limits.max_members``, absolute or
    ``..`` names (zip slip), symbolic links, encrypted members, nested ``.zip`` members, a member
    that expands more than ``limits.max_ratio`` (zip bomb) and a declared total over
    ``limits.max_total_bytes``. Folders, hidden files, ``__MACOSX`` forks and DICOMDIR indexes
    are left out of the answer.
    """
    # not ZipInfo.is_dir(): it fails on an empty name, which a damaged archive may hold
    infos = [i for i in zf.infolist() if not i.filename.endswith("/")]
    if len(infos) > limits.max_members:
        raise ArchiveError(f"zip has {len(infos)} members; the limit is {limits.max_members}")
    declared = 0
    members: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    for info in infos:
        rel = _safe_member_path(info)
        declared += info.file_size
        if info.file_size > limits.ratio_min_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise ArchiveError(
                    f"zip member {_base(info)!r} expands {ratio:.0f}:1 ({info.file_size} bytes; "
                    f"suspected zip bomb); the limit is {limits.max_ratio:.0f}:1"
                )
        if rel is not None:
            members.append((info, rel))
    if declared > limits.max_total_bytes:
        raise ArchiveError(
            f"zip expands to {declared} bytes; the limit is {limits.max_total_bytes} bytes"
        )
    return members


def copy_member(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    out: IO[bytes],
    total_bytes: int,
    limits: ArchiveLimits,
) -> int:
    """Copy one member to ``out``, counting its real size; return the archive's running total.

    A header that lies about a member's size cannot get past the limits: the bytes really
    inflated are counted against the declared size and against ``limits.max_total_bytes``.
    An error of ``out`` itself (e.g. a full disk) is re-raised as it is, not blamed on the zip.
    """
    size = 0
    try:
        with zf.open(info) as member:
            while chunk := member.read(_COPY_CHUNK):
                size += len(chunk)
                total_bytes += len(chunk)
                if size > info.file_size:
                    raise ArchiveError(
                        f"zip member {_base(info)!r} is larger than its header says "
                        f"({info.file_size} bytes; zip bomb?); expected an intact archive"
                    )
                if total_bytes > limits.max_total_bytes:
                    raise ArchiveError(
                        f"zip expands to more than {limits.max_total_bytes} bytes; that is the "
                        "limit"
                    )
                out.write(chunk)
    except ArchiveError:
        raise
    except OSError as exc:
        if exc.errno is not None:  # our own file failed (e.g. the disk is full): no archive fault
            raise
        raise ArchiveError(
            f"zip member {_base(info)!r} cannot be read (corrupt); expected an intact archive"
        ) from exc
    except _ZIP_DAMAGE as exc:
        raise ArchiveError(
            f"zip member {_base(info)!r} cannot be read (corrupt); expected an intact archive"
        ) from exc
    return total_bytes


def _extract(zf: zipfile.ZipFile, dest: Path, limits: ArchiveLimits) -> list[Path]:
    total = 0
    out: list[Path] = []
    seen: set[str] = set()
    for info, rel in zip_members(zf, limits):
        key = rel.as_posix().lower()
        if key in seen:
            raise ArchiveError(f"zip holds member {rel.name!r} twice; expected unique names")
        seen.add(key)
        target = dest.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as dst:
            total = copy_member(zf, info, dst, total, limits)
        if is_zip(target):
            raise _nested(rel.name)
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
            with open_zip(path) as zf:
                files = _extract(zf, tmp, limits or ArchiveLimits())
        except ArchiveError:
            raise
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
