"""open_input: folders, single files and zips, with zip slip, bombs and nesting refused."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dicomio import ArchiveError, ArchiveLimits, InputNotFoundError, open_input, read_series
from tests.dicomio._series_synth import write_stack


def _zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_folder_is_recursive_and_skips_hidden_and_dicomdir(tmp_path: Path) -> None:
    """Files in subfolders are found; dot-files, dot-folders and DICOMDIR are skipped."""
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "IM1").write_bytes(b"1")
    (tmp_path / "IM2").write_bytes(b"2")
    (tmp_path / ".hidden").write_bytes(b"3")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x").write_bytes(b"4")
    (tmp_path / "DICOMDIR").write_bytes(b"5")
    with open_input(tmp_path) as inp:
        assert [p.relative_to(tmp_path).as_posix() for p in inp.files] == ["IM2", "a/b/IM1"]
        assert inp.source_kind == "folder"
        assert inp.skipped == 3


def test_single_file_is_its_own_input(tmp_path: Path) -> None:
    """A plain file yields itself."""
    f = tmp_path / "one.dcm"
    f.write_bytes(b"x")
    with open_input(f) as inp:
        assert inp.files == (f,)
        assert inp.source_kind == "file"


def test_zip_reads_like_the_folder_and_is_cleaned_up(tmp_path: Path) -> None:
    """A zip of a series gives the same volume and hashes as the folder; its temp dir goes away."""
    files = write_stack(tmp_path / "series", [(0, 0, 0), (0, 0, 1), (0, 0, 2)])
    z = _zip(
        tmp_path / "s.zip",
        {f"study/{f.name}": f.read_bytes() for f in files},
        compression=zipfile.ZIP_DEFLATED,
    )
    a = read_series(z)
    b = read_series(tmp_path / "series")
    assert a.geometry.same_grid(b.geometry)
    assert a.pixels is not None and b.pixels is not None
    assert np.array_equal(a.pixels, b.pixels)
    assert a.info.file_sha256 == b.info.file_sha256
    with open_input(z) as inp:
        root = inp.root
        assert root.is_dir() and len(inp.files) == 3
    assert not root.exists()


@pytest.mark.parametrize(
    ("member", "needle"),
    [
        ("../../escape.dcm", r"outside the archive"),
        ("a/../../escape.dcm", r"outside the archive"),
        ("/etc/passwd", r"absolute path"),
        ("C:/windows/x.dcm", r"absolute path"),
        ("..\\..\\evil.dcm", r"outside the archive"),
        ("inner.zip", r"itself a zip"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "drive-letter", "backslash-dotdot", "nested-zip"],
)
def test_unsafe_member_names_refused(tmp_path: Path, member: str, needle: str) -> None:
    """Zip slip names and nested zips are refused before anything is written outside."""
    z = _zip(tmp_path / "bad.zip", {"ok.dcm": b"x", member: b"PK\x03\x04 not really"})
    with pytest.raises(ArchiveError, match=needle), open_input(z):
        pass
    assert not (tmp_path.parent / "escape.dcm").exists()


def test_nested_zip_by_content_refused(tmp_path: Path) -> None:
    """A member that is a zip under another name is refused too."""
    inner = _zip(tmp_path / "inner.zip", {"a.dcm": b"x"}).read_bytes()
    z = _zip(tmp_path / "outer.zip", {"data.bin": inner})
    with pytest.raises(ArchiveError, match="itself a zip"), open_input(z):
        pass


def test_symlink_member_refused(tmp_path: Path) -> None:
    """A symbolic-link member is refused."""
    z = tmp_path / "link.zip"
    info = zipfile.ZipInfo("link.dcm")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link"), open_input(z):
        pass


def test_compression_ratio_bomb_refused(tmp_path: Path) -> None:
    """A large member that expands more than 200:1 is refused as a suspected zip bomb."""
    z = _zip(tmp_path / "bomb.zip", {"big.dcm": b"\0" * (8 << 20)}, zipfile.ZIP_DEFLATED)
    with pytest.raises(ArchiveError, match=r"limit is 200:1"), open_input(z):
        pass


@pytest.mark.parametrize(
    ("limits", "needle"),
    [
        (ArchiveLimits(max_total_bytes=1000), r"limit is 1000 bytes"),
        (ArchiveLimits(max_members=2), r"3 members; the limit is 2"),
    ],
    ids=["total-size", "member-count"],
)
def test_size_and_count_limits(tmp_path: Path, limits: ArchiveLimits, needle: str) -> None:
    """The total uncompressed size and the member count are limited."""
    z = _zip(tmp_path / "z.zip", {f"m{i}.dcm": bytes(600) for i in range(3)})
    with pytest.raises(ArchiveError, match=needle), open_input(z, limits=limits):
        pass


def test_small_compressible_members_are_fine(tmp_path: Path) -> None:
    """The ratio limit ignores small members (a few KB of zeros is no bomb)."""
    z = _zip(tmp_path / "z.zip", {"zeros.dcm": bytes(100_000)}, zipfile.ZIP_DEFLATED)
    with open_input(z) as inp:
        assert len(inp.files) == 1


def test_corrupt_zip_is_an_archive_error(tmp_path: Path) -> None:
    """A file that starts like a zip but is not one is an ArchiveError."""
    z = tmp_path / "broken.zip"
    z.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(ArchiveError, match="cannot be read"), open_input(z):
        pass


def test_empty_zip_and_missing_path(tmp_path: Path) -> None:
    """An empty zip and a path that does not exist are InputNotFoundError."""
    z = _zip(tmp_path / "empty.zip", {})
    with pytest.raises(InputNotFoundError, match="holds no files"), open_input(z):
        pass
    with pytest.raises(InputNotFoundError, match="does not exist"), open_input(tmp_path / "no"):
        pass
