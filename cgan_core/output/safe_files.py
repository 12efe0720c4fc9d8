"""Files inside a run folder, opened relative to it without following a link.

Every write of a run (RunFiles, the one writer) and every read of one (folder_reader, the checkpoints and
grids it loads) names its run folder as `root`: each folder on the way is opened with O_DIRECTORY |
O_NOFOLLOW from the one above it, and the file itself with O_NOFOLLOW, so a symbolic link anywhere inside
the run folder (events.jsonl -> ~/.bashrc, checkpoints/ -> /tmp) is refused in one line, never followed:
nothing outside the run folder is read or written through it. Without `root` (a file the user named: an
export, a generator to sample) a read takes the path as given; a write still refuses a link as the file.
"""
from __future__ import annotations

import errno
import io
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cgan_core.errors import CheckpointError

TMP_MARK = ".tmp-"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _refused(path: Path, exc: OSError) -> CheckpointError | OSError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return CheckpointError(f"{path}: a symbolic link (or not a folder) inside the run folder: not followed, "
                               "nothing is read or written through it")
    return exc


def _parts(root: Path, path: Path) -> tuple[str, ...]:
    try:
        return Path(path).relative_to(root).parts
    except ValueError:
        raise CheckpointError(f"{path}: outside the run folder {root}") from None


@contextmanager
def folder(path: Path, root: Path | None = None, create: bool = False) -> Iterator[int]:
    """A descriptor of the folder `path`: walked from `root` one name at a time, none of them a link
    (made where missing when `create`). Without `root`, `path` as given."""
    path = Path(path)
    parts = () if root is None else _parts(root, path)
    try:
        if root is None and create:
            path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path if root is None else root, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise _refused(path, exc) from None
    try:
        for name in parts:
            if create:
                try:
                    os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
            inner = os.open(name, _DIR, dir_fd=fd)
            os.close(fd)
            fd = inner
    except OSError as exc:
        os.close(fd)
        raise _refused(path, exc) from None
    try:
        yield fd
    finally:
        os.close(fd)


def _open(path: Path, root: Path | None, flags: int, mode: int = 0o644) -> int:
    """A file's descriptor, opened in its folder without following a link; only regular files."""
    path = Path(path)
    with folder(path.parent, root) as parent:
        try:
            fd = os.open(path.name, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode, dir_fd=parent)
        except OSError as exc:
            raise _refused(path, exc) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CheckpointError(f"{path}: not a regular file inside the run folder: not read or written")
    os.set_blocking(fd, True)
    return fd


def open_append(path: Path, root: Path | None = None):
    """A text file to append to (created when missing), in UTF-8 with newlines as written."""
    fd = _open(path, root, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    return os.fdopen(fd, "a", newline="", encoding="utf-8", errors="replace")


def open_binary(path: Path, root: Path | None = None):
    """A file to read in binary (seekable, fstat-able), or None when it is missing. Inside a run folder
    (`root`): never through a link, and only a regular file. Without `root`: the path the user named."""
    try:
        if root is None:
            return open(path, "rb")  # noqa: SIM115 (the caller closes it)
        return os.fdopen(_open(path, root, os.O_RDONLY), "rb")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise CheckpointError(f"{path}: a folder, not a file") from None


def read_bytes(path: Path, root: Path | None = None, limit: int | None = None) -> bytes | None:
    """A file's bytes (at most `limit` + 1 of them: more than `limit` says it is too large), or None when
    it is missing."""
    f = open_binary(path, root)
    if f is None:
        return None
    with f:
        return f.read() if limit is None else f.read(limit + 1)


def open_text(path: Path, root: Path | None = None):
    """A UTF-8 text file to read as a stream (a CSV's header without the rest), or None when it is missing."""
    f = open_binary(path, root)
    return None if f is None else io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline="")


def atomic_write_bytes(path: Path, data: bytes, root: Path | None = None) -> None:
    """Write `data` to `path` so that a crash leaves either the old file or the new one, never a mix:
    a temp file in the same folder (O_EXCL, never a link), flushed and fsynced, then a rename within the
    folder's descriptor, then an fsync of the folder."""
    path = Path(path)
    tmp = f"{path.name}{TMP_MARK}{secrets.token_hex(4)}"
    with folder(path.parent, root) as parent:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path.name, src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=parent)
                except OSError:
                    pass
                raise
            os.fsync(parent)
        except OSError as exc:  # a link is refused; a full disk names the file it was writing, whole
            refused = _refused(path, exc)
            if refused is not exc:
                raise refused from None
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def move(source: Path, target: Path, root: Path) -> None:
    """Rename within the run folder: both folders by descriptor, the entry itself (a link too) never followed."""
    with folder(source.parent, root) as src, folder(target.parent, root) as dst:
        try:
            os.replace(source.name, target.name, src_dir_fd=src, dst_dir_fd=dst)
        except OSError as exc:
            raise _refused(source, exc) from None


def make_folder(path: Path, root: Path | None, exist_ok: bool = False) -> None:
    """mkdir inside the run folder, its parents (made where missing) opened without following a link;
    without `root`, as given."""
    with folder(path.parent, root, create=True) as parent:
        try:
            os.mkdir(path.name, 0o755, dir_fd=parent)
        except FileExistsError:
            if not exist_ok:
                raise
            try:  # what exists must be a folder itself, not a link to one
                os.close(os.open(path.name, _DIR, dir_fd=parent))
            except OSError as exc:
                raise _refused(path, exc) from None
        except OSError as exc:
            raise _refused(path, exc) from None


def remove(path: Path, root: Path) -> None:
    """Unlink a file inside the run folder (a link is removed itself); missing is fine."""
    with folder(path.parent, root) as parent:
        try:
            os.unlink(path.name, dir_fd=parent)
        except FileNotFoundError:
            pass


def names(path: Path, root: Path) -> list[str]:
    """The entries of a folder inside the run folder ([] when it is missing), read through its descriptor."""
    try:
        with folder(path, root) as fd:
            return sorted(os.listdir(fd))
    except FileNotFoundError:
        return []
