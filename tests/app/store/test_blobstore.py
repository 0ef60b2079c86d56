"""The content-addressed blob store: naming, idempotence, atomic writes, confinement."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from app.store.blobs import BlobRef, BlobStore


def test_put_bytes_names_blob_by_sha256(tmp_path: Path) -> None:
    """A blob lives at ab/cdef... of its SHA-256 and reads back identical."""
    store = BlobStore(tmp_path / "blobs")
    ref = store.put_bytes(b"hello")
    digest = hashlib.sha256(b"hello").hexdigest()
    assert (ref.sha256, ref.relpath, ref.size_bytes, ref.created) == (
        digest,
        f"{digest[:2]}/{digest[2:]}",
        5,
        True,
    )
    assert store.path(digest).read_bytes() == b"hello"
    assert b"".join(store.iter_bytes(digest, chunk_size=2)) == b"hello"


@pytest.mark.parametrize("method", ["bytes", "stream"])
def test_second_put_is_a_no_op(tmp_path: Path, method: str) -> None:
    """Storing the same content twice keeps one file and reports it as not created."""
    store = BlobStore(tmp_path)

    def put(data: bytes) -> BlobRef:
        return store.put_bytes(data) if method == "bytes" else store.put_stream(io.BytesIO(data))

    first, second = put(b"x" * 3_000_000), put(b"x" * 3_000_000)
    assert first.created and not second.created
    assert first.sha256 == second.sha256
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [store.path(first.sha256)]


def test_stream_over_limit_leaves_nothing(tmp_path: Path) -> None:
    """A stream over ``max_bytes`` raises and leaves no file, not even a temporary one."""
    store = BlobStore(tmp_path)
    with pytest.raises(ValueError, match="larger than"):
        store.put_stream(io.BytesIO(b"y" * 5000), max_bytes=4000)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_failed_write_leaves_no_partial_blob(tmp_path: Path) -> None:
    """A stream that breaks mid-way leaves no file under a real name."""
    store = BlobStore(tmp_path)

    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("connection reset")
            return b"z" * 1000

    with pytest.raises(OSError):
        store.put_stream(Broken())  # type: ignore[arg-type]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    "digest",
    ["../../etc/passwd", "ab/../../x", "A" * 64, "0" * 63, "/" + "0" * 63, "g" * 64],
    ids=["dotdot", "nested", "upper", "short", "absolute", "non-hex"],
)
def test_paths_never_leave_the_store(tmp_path: Path, digest: str) -> None:
    """Only 64 lower-case hex digits name a blob; anything else is refused."""
    with pytest.raises(ValueError, match="SHA-256"):
        BlobStore(tmp_path).path(digest)


def test_concurrent_puts_of_one_content(tmp_path: Path) -> None:
    """Eight threads storing the same bytes leave exactly one complete file."""
    store = BlobStore(tmp_path)
    data = os.urandom(2_000_000)
    barrier = threading.Barrier(8)

    def put() -> None:
        barrier.wait()
        store.put_stream(io.BytesIO(data))

    threads = [threading.Thread(target=put) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1
    assert files[0].read_bytes() == data
