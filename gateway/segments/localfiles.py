"""Local files of import and export jobs, confined to the directories the operator lists (`jobs.import_dirs`,
`jobs.export_dirs`; none by default, so no local path is usable until the operator says which).

A path is checked after it is fully resolved (`os.path.realpath`: symlinks and `..` followed), so neither
`../../etc/shadow` nor a symlink inside a listed directory that points outside gets through. The file is then
opened by walking that resolved path down from the listed directory one component at a time with O_NOFOLLOW:
a symlink swapped in after the check is refused instead of followed. Exports create directories only below a
listed directory, the same way, and never overwrite a file.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from urllib.parse import urlparse
from urllib.request import url2pathname

from gateway.errors import GatewayError


class PathRefused(GatewayError, ValueError):
    """A local path this gateway may not use for a job; the message says why (never what the file holds)."""


class TooLarge(GatewayError, OSError):
    """A local source is larger than `jobs.max_import_bytes`."""


def local_path(url: str) -> str | None:
    """The local path an S3Url / S3UrlPrefix names (a plain path or a `file://` URL), or None for other schemes.
    A `file://` URL naming another host is refused."""
    p = urlparse(url)
    if p.scheme == "file":
        if p.netloc not in ("", "localhost"):
            raise PathRefused(f"{url!r}: a file:// URL must name a local path, not host {p.netloc!r}")
        return url2pathname(p.path)
    if p.scheme == "":
        return url
    return None


def resolve_roots(dirs: Sequence[str]) -> tuple[str, ...]:
    """The listed directories, resolved once (a listed directory may itself be reached through a symlink)."""
    return tuple(os.path.realpath(d) for d in dirs)


def containing_root(resolved: str, roots: Sequence[str]) -> str | None:
    """The listed directory `resolved` lies in (or is), or None. Both sides must already be resolved."""
    for root in roots:
        if resolved == root or resolved.startswith(root.rstrip(os.sep) + os.sep):
            return root
    return None


def confine(path: str, roots: Sequence[str], key: str) -> tuple[str, str]:
    """(listed directory, resolved path) for `path`, or PathRefused naming the config key (`jobs.import_dirs`).
    Parts of the path that do not exist yet are taken as written (they cannot be symlinks)."""
    if not roots:
        raise PathRefused(f"local paths are disabled on this gateway: the operator lists the directories jobs may "
                          f"use in {key}")
    try:
        resolved = os.path.realpath(path)
    except (OSError, ValueError) as exc:  # a NUL byte, a symlink loop
        raise PathRefused(f"{path!r} is not a usable local path ({type(exc).__name__})") from None
    root = containing_root(resolved, roots)
    if root is None:
        raise PathRefused(f"{path!r} is outside the directories listed in {key}")
    return root, resolved


def _parts(root: str, resolved: str) -> list[str]:
    rel = os.path.relpath(resolved, root)
    return [] if rel == "." else rel.split(os.sep)


def _open_at(name: str, flags: int, dir_fd: int, path: str) -> int:
    """os.open relative to `dir_fd`, never through a symlink: one found here was swapped in after the check."""
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            try:
                link = stat.S_ISLNK(os.lstat(name, dir_fd=dir_fd).st_mode)
            except OSError:
                link = False
            if link:
                raise PathRefused(f"{path!r} changed into a symlink after it was checked") from None
        raise


def _open_below(root: str, parts: list[str], path: str, *, create: bool) -> int:
    """A directory fd for root/parts..., every component opened without following symlinks (made first when
    `create`)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            if create:
                try:
                    os.mkdir(part, dir_fd=fd)
                except FileExistsError:
                    pass
            nxt = _open_at(part, os.O_RDONLY | os.O_DIRECTORY, fd, path)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_source(path: str, roots: Sequence[str], key: str) -> tuple[int, bool]:
    """(fd, is a directory) for an import source inside the listed directories. Only regular files and
    directories are opened (a FIFO or device would block or never end)."""
    root, resolved = confine(path, roots, key)
    parts = _parts(root, resolved)
    fd = _open_below(root, parts[:-1], path, create=False)
    if parts:
        parent = fd
        try:
            fd = _open_at(parts[-1], os.O_RDONLY | os.O_NONBLOCK, parent, path)
        finally:
            os.close(parent)
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        return fd, stat.S_ISDIR(mode)
    os.close(fd)
    raise PathRefused(f"{path!r} is not a regular file or directory")


def list_files(dir_fd: int) -> list[str]:
    """Names of the regular files (symlinks followed: `read_source` checks their targets) in a directory, not
    hidden, sorted."""
    names = []
    for name in sorted(os.listdir(dir_fd)):
        if name.startswith("."):
            continue
        try:
            if stat.S_ISREG(os.stat(name, dir_fd=dir_fd).st_mode):
                names.append(name)
        except OSError:
            continue  # a dangling symlink: nothing to import
    return names


def read_source(path: str, roots: Sequence[str], key: str, max_bytes: int) -> bytes:
    """The bytes of a regular file inside the listed directories, at most `max_bytes` (TooLarge beyond)."""
    fd, is_dir = open_source(path, roots, key)
    try:
        if is_dir:
            raise IsADirectoryError(21, "Is a directory", path)
        chunks: list[bytes] = []
        got = 0
        while got <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - got))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            got += len(chunk)
        raise TooLarge(f"larger than the limit of {max_bytes} bytes (jobs.max_import_bytes)")
    finally:
        os.close(fd)


def make_export_dir(path: str, job_id: str, roots: Sequence[str], key: str) -> int:
    """Create `<path>/<job_id>` inside the listed directories (and the missing directories of `path`, only below
    the listed one) and return its fd; the job directory must not exist yet."""
    root, resolved = confine(path, roots, key)
    parent = _open_below(root, _parts(root, resolved), path, create=True)
    try:
        os.mkdir(job_id, dir_fd=parent)
        return _open_at(job_id, os.O_RDONLY | os.O_DIRECTORY, parent, path)
    finally:
        os.close(parent)


def write_new(dir_fd: int, name: str, data: bytes) -> None:
    """Write a new file in a directory opened by `make_export_dir` (never follows or replaces an existing one)."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
