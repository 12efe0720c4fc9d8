"""Dataset downloads from their official hosts: checksummed, resumable, into the user cache dir.

A partial download is kept as `NAME.part` and continued with an HTTP Range request. A finished file
is checked against its MD5 before it is renamed into place; on a mismatch it is deleted and the
error says so. Without a network the error is one line that suggests the file options.
`CGAN_STUDIO_DOWNLOAD_BASE` replaces every host (a mirror, or the tests' local server).
"""
from __future__ import annotations

import fcntl
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cgan_core import paths
from cgan_core.errors import DataError

CHUNK = 1 << 16
TIMEOUT_S = 20.0
Progress = Callable[[str, float], None]  # (what, fraction 0..1)


@dataclass(frozen=True)
class Source:
    name: str
    base_url: str
    files: dict[str, str]  # file name -> MD5 of the file as served
    class_names: tuple[str, ...]
    homepage: str

    def url(self, file: str) -> str:
        base = os.environ.get("CGAN_STUDIO_DOWNLOAD_BASE")
        return f"{base.rstrip('/')}/{self.name}/{file}" if base else f"{self.base_url.rstrip('/')}/{file}"


SOURCES = {
    "fashion-mnist": Source(
        "fashion-mnist", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        "https://github.com/zalandoresearch/fashion-mnist"),
    "kmnist": Source(
        "kmnist", "http://codh.rois.ac.jp/kmnist/dataset/kmnist",
        {"train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
         "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
         "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
         "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134"},
        ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"), "https://github.com/rois-codh/kmnist"),
    "cifar10": Source(
        "cifar10", "https://www.cs.toronto.edu/~kriz",
        {"cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530"},
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        "https://www.cs.toronto.edu/~kriz/cifar.html"),
}
OFFLINE_HINT = ("download the files yourself and pass their folder: --dataset PATH (IDX files, a CIFAR-10 "
                "binary folder, or an image folder with one subfolder per class)")


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_dir(source: Source) -> Path:
    path = paths.cache_dir() / "datasets" / source.name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _open(url: str, offset: int):
    request = urllib.request.Request(url, headers={"User-Agent": "cgan-studio"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)


def download_file(url: str, dest: Path, md5: str, progress: Progress | None = None) -> Path:
    """Fetch `url` to `dest` (resuming `dest.part`), check the MD5, then rename into place. One process
    downloads a file at a time (a lock beside it): the others wait, then find it there and reuse it."""
    dest = Path(dest)
    if dest.is_file():
        return dest
    with open(dest.with_name(dest.name + ".lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file closes, or the process dies
        if dest.is_file():  # another process finished it while this one waited
            return dest
        return _download(url, dest, md5, progress)


MAX_BYTES = 512 * 2**20  # the largest file a source serves is CIFAR-10's archive, 170 MB


def _download(url: str, dest: Path, md5: str, progress: Progress | None) -> Path:
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    try:
        response = _open(url, offset)
        with response:
            resumed = offset and response.status == 206
            length = response.headers.get("Content-Length") or "0"
            total = (int(length) if length.isascii() and length.isdigit() else 0) + (offset if resumed else 0)
            if total > MAX_BYTES:
                raise DataError(f"{url}: the server offers {total:,} bytes; no dataset file is over {MAX_BYTES:,}")
            with open(part, "ab" if resumed else "wb") as f:
                done = offset if resumed else 0
                while block := response.read(CHUNK):
                    f.write(block)
                    done += len(block)
                    if done > MAX_BYTES:  # a server that sends without end: stopped, never fills the disk
                        part.unlink(missing_ok=True)  # the open file goes with its name; nothing is kept
                        raise DataError(f"{url}: more than {MAX_BYTES:,} bytes sent; no dataset file is that large "
                                        "(deleted, not kept)")
                    if progress is not None and total:
                        progress(dest.name, done / total)
                f.flush()
                os.fsync(f.fileno())
            if total and done < total:  # the connection closed early: keep the part for a resume
                raise ConnectionError(f"connection closed after {done} of {total} bytes")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the part is already whole: check it below
            pass
        else:
            raise DataError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except (TimeoutError, urllib.error.URLError, ConnectionError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        kept = f"; {part.stat().st_size} bytes kept in {part.name}, the next try resumes" if part.is_file() else ""
        raise DataError(f"no network: cannot reach {urllib.request.urlparse(url).netloc} ({reason}){kept}; "
                        f"{OFFLINE_HINT}") from None
    got = md5_of(part)
    if got != md5:
        part.unlink(missing_ok=True)
        raise DataError(f"{dest.name}: checksum mismatch after download (MD5 {got}, expected {md5}); "
                        "the file was deleted, try again")
    os.replace(part, dest)
    return dest


def fetch(source: Source, progress: Progress | None = None) -> Path:
    """Every file of `source` in its cache folder (downloaded when missing); returns the folder."""
    folder = source_dir(source)
    for file, md5 in source.files.items():
        download_file(source.url(file), folder / file, md5, progress)
    return folder


def is_fetched(source: Source) -> bool:
    folder = paths.cache_dir() / "datasets" / source.name
    return all((folder / f).is_file() for f in source.files)
