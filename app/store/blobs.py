"""A content-addressed blob folder: ``blobs/ab/cdef...`` named by the SHA-256 of the bytes.

Writes are atomic and durable *before* the caller commits the database row that points at them:
the bytes go to a temporary file (in the blob's own folder when the hash is known up front, else in
``blobs/.incoming`` on the same file system), the file is fsynced, renamed onto its final name,
and the folder is fsynced. A crash therefore leaves either no blob or a complete one, never a torn
file under a real name; an acknowledged instance survives. Identical content is stored once.
Paths are built only from validated hex digests, so nothing is ever written outside the folder.
A full file system (``ENOSPC``, ``EDQUOT``, ``EFBIG``) leaves no temporary file behind and is
raised as :class:`app.errors.InsufficientStorageError` (507).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from app.errors import InsufficientStorageError, UploadTooLargeError

__all__ = ["BlobRef", "BlobStore", "link_file"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20
#: errno values that mean "no room": disk full, quota exceeded, file size limit (RLIMIT_FSIZE).
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A stored blob: its digest, its path relative to the store, its size, and if it is new."""

    sha256: str
    relpath: str
    size_bytes: int
    created: bool


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _no_room_is_507() -> Iterator[None]:
    """Re-raise a full file system as :class:`InsufficientStorageError` (names no path)."""
    try:
        yield
    except InsufficientStorageError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            raise
        reason = os.strerror(exc.errno) if exc.errno is not None else "no room"
        raise InsufficientStorageError(
            f"the blob store cannot take this file ({reason}); nothing was stored, expected "
            "free space on the server: send it again later"
        ) from exc


class BlobStore:
    """Content-addressed, atomically written files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._incoming = self.root / ".incoming"

    def relpath(self, sha256: str) -> str:
        """Return the relative path of a digest (``ab/cdef...``); only 64 hex digits are one."""
        if not _HEX64.match(sha256):
            raise ValueError("expected a SHA-256 digest of 64 lower-case hex digits")
        return f"{sha256[:2]}/{sha256[2:]}"

    def path(self, sha256: str) -> Path:
        """Return the absolute path of a digest's blob (which may not exist)."""
        return self.root / self.relpath(sha256)

    def exists(self, sha256: str) -> bool:
        """Whether the blob of this digest is stored."""
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> IO[bytes]:
        """Open a stored blob for reading."""
        return open(self.path(sha256), "rb")

    def iter_bytes(self, sha256: str, chunk_size: int = _CHUNK) -> Iterator[bytes]:
        """Stream a stored blob in chunks (never the whole file in memory)."""
        with self.open(sha256) as fh:
            while chunk := fh.read(chunk_size):
                yield chunk

    def put_bytes(self, data: bytes) -> BlobRef:
        """Store ``data``; a no-op when the same content is stored already."""
        with _no_room_is_507():
            return self._put_bytes(data)

    def _put_bytes(self, data: bytes) -> BlobRef:
        digest = hashlib.sha256(data).hexdigest()
        final = self.path(digest)
        if final.is_file():
            return BlobRef(digest, self.relpath(digest), len(data), created=False)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(final.parent)
        return BlobRef(digest, self.relpath(digest), len(data), created=True)

    def put_stream(self, stream: IO[bytes], max_bytes: int | None = None) -> BlobRef:
        """Store a stream read in chunks; ``max_bytes`` bounds it (ValueError beyond).

        The digest is known only at the end, so the temporary file lives in ``.incoming`` (same
        file system) and is renamed into place; both folders are fsynced.
        """
        with _no_room_is_507():
            return self._put_stream(stream, max_bytes)

    def _put_stream(self, stream: IO[bytes], max_bytes: int | None) -> BlobRef:
        self._incoming.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self._incoming, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise ValueError(f"stream is larger than {max_bytes} bytes")
                    h.update(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            digest = h.hexdigest()
            final = self.path(digest)
            if final.is_file():
                os.unlink(tmp)
                return BlobRef(digest, self.relpath(digest), size, created=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(final.parent)
        _fsync_dir(self._incoming)
        return BlobRef(digest, self.relpath(digest), size, created=True)

    @contextmanager
    def spool(self, stream: IO[bytes], name: str, max_bytes: int) -> Iterator[Path]:
        """Spool ``stream`` to the file ``name`` in a temporary folder, removed afterwards.

        The folder is on the blob store's file system: a file to check before it is stored. A
        full disk is a 507, as for a blob; more than ``max_bytes`` a 413
        (:class:`UploadTooLargeError`).
        """
        self._incoming.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".tmp-", dir=self._incoming) as folder:
            path = Path(folder) / name
            size = 0
            with _no_room_is_507(), path.open("wb") as fh:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadTooLargeError(f"{name} is larger than {max_bytes} bytes")
                    fh.write(chunk)
            yield path

    def link_as(self, sha256: str, dst: Path) -> Path:
        """Place the stored file ``sha256`` at ``dst``: a hard link (a copy across file systems)."""
        link_file(self.path(sha256), dst)
        return dst

    def link_series(self, sha256s: Sequence[str], folder: Path) -> Path:
        """Lay stored instances out as a series folder: ``000001.dcm``, ``000002.dcm``, ..."""
        folder.mkdir(parents=True, exist_ok=True)
        for n, sha in enumerate(sha256s, start=1):
            self.link_as(sha, folder / f"{n:06d}.dcm")
        return folder


def link_file(src: Path, dst: Path) -> None:
    """Hard-link ``src`` as ``dst`` (a copy on another file system)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
