"""Local files of import/export jobs (gateway/segments/localfiles.py): the check runs on the resolved path, and
the open walks that path without following symlinks, so a swap after the check is refused, not followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.segments import localfiles


def test_local_path_forms() -> None:
    assert localfiles.local_path("/data/x.csv") == "/data/x.csv"
    assert localfiles.local_path("rel/x.csv") == "rel/x.csv"
    assert localfiles.local_path("file:///data/a%20b.csv") == "/data/a b.csv"
    assert localfiles.local_path("file://localhost/data/x.csv") == "/data/x.csv"
    assert localfiles.local_path("s3://bucket/key") is None
    assert localfiles.local_path("https://example.com/x") is None
    with pytest.raises(localfiles.PathRefused, match="not host 'fileserver'"):
        localfiles.local_path("file://fileserver/share/x.csv")


def test_containing_root_is_by_component_not_by_prefix() -> None:
    roots = ("/srv/imports",)
    assert localfiles.containing_root("/srv/imports", roots) == "/srv/imports"
    assert localfiles.containing_root("/srv/imports/a/b.csv", roots) == "/srv/imports"
    assert localfiles.containing_root("/srv/imports-other/x.csv", roots) is None
    assert localfiles.containing_root("/srv", roots) is None
    assert localfiles.containing_root("/anything", ("/",)) == "/"


def test_a_symlink_swapped_in_after_the_check_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    (root / "dir").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text("secret")
    (root / "dir" / "x.csv").write_text("ok")
    roots = localfiles.resolve_roots([str(root)])
    assert localfiles.read_source(str(root / "dir" / "x.csv"), roots, "k", 100) == b"ok"
    # the check saw root/dir/secret.csv as a plain path; by the time of the open, dir is a symlink to outside
    os.rename(root / "dir", root / "old")
    (root / "dir").symlink_to(outside, target_is_directory=True)
    monkeypatch.setattr(localfiles.os.path, "realpath", lambda p: os.path.abspath(p))
    with pytest.raises(localfiles.PathRefused, match="changed into a symlink"):
        localfiles.read_source(str(root / "dir" / "secret.csv"), roots, "k", 100)
    (root / "file.csv").symlink_to(outside / "secret.csv")
    with pytest.raises(localfiles.PathRefused, match="changed into a symlink"):
        localfiles.read_source(str(root / "file.csv"), roots, "k", 100)
    with pytest.raises(localfiles.PathRefused, match="changed into a symlink"):
        localfiles.make_export_dir(str(root / "dir" / "new"), "job", roots, "k")
    assert sorted(os.listdir(outside)) == ["secret.csv"]


def test_only_regular_files_are_read_and_exports_never_overwrite(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")  # opening a FIFO for reading would block the job forever
    roots = localfiles.resolve_roots([str(tmp_path)])
    with pytest.raises(localfiles.PathRefused, match="not a regular file"):
        localfiles.read_source(str(tmp_path / "fifo"), roots, "k", 100)
    fd = localfiles.make_export_dir(str(tmp_path / "out"), "job", roots, "k")
    try:
        localfiles.write_new(fd, "part-00000.json", b"{}\n")
        with pytest.raises(FileExistsError):
            localfiles.write_new(fd, "part-00000.json", b"again")
    finally:
        os.close(fd)
    assert (tmp_path / "out" / "job" / "part-00000.json").read_bytes() == b"{}\n"
    with pytest.raises(FileExistsError):
        localfiles.make_export_dir(str(tmp_path / "out"), "job", roots, "k")
