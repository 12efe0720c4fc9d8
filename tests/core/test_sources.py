"""Bring-your-own data: downloads against a local HTTP server (checksum, resume, mismatch, no network),
IDX folders, CIFAR-10 binary, labelled image folders and each of their bad cases, and training at
32 px RGB and 64 px."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from cgan_core.data import load_dataset
from cgan_core.data.download import Source, download_file, fetch
from cgan_core.data.folders import load_idx_folder
from cgan_core.errors import DataError
from cgan_core.step.config import TrainConfig
from cgan_core.step.presets import PRESETS
from cgan_core.step.trainer import Trainer
from tests.hostile import hostile_pickle_file


def idx_bytes(array: np.ndarray, magic_type: int = 0x08) -> bytes:
    header = bytes([0, 0, magic_type, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fixture_idx_files(n: int = 40) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 10
    return {"train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)),
            "train-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels)),
            "t10k-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images[:20])),
            "t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels[:20]))}


class FixtureServer:
    """Serves bytes on 127.0.0.1 with Range support; `cut_after` drops the first answer mid-way."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.cut_after, self.ranges, self.headers_lie = files, None, [], False
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                data = server.files.get(self.path.rsplit("/", 1)[-1])
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if (header := self.headers.get("Range")) is not None:
                    server.ranges.append(header)
                    start = int(header.split("=")[1].split("-")[0])
                self.send_response(206 if start else 200)
                if not server.headers_lie:  # a server may send no length at all
                    self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if server.cut_after is not None:
                    body, server.cut_after = body[: server.cut_after], None  # then the connection closes
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True).start()  # shutdown waits a poll


@pytest.fixture
def server():
    s = FixtureServer(fixture_idx_files())
    yield s
    s.httpd.shutdown()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_with_checksums_then_load(server, tmp_path, monkeypatch):
    monkeypatch.setenv("CGAN_STUDIO_CACHE", str(tmp_path / "cache"))
    source = Source("fixture", server.url, {k: md5(v) for k, v in server.files.items()}, tuple("abcdefghij"), "")
    seen = []
    folder = fetch(source, lambda file, fraction: seen.append((file, fraction)))
    data = load_idx_folder(folder, "train", list(source.class_names))
    assert data.images.shape == (40, 1, 28, 28) and data.class_names[3] == "d" and seen[-1][1] == 1.0
    assert load_idx_folder(folder, "test").images.shape[0] == 20


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    name = "train-images-idx3-ubyte.gz"
    data = server.files[name]
    server.cut_after = len(data) // 3
    dest = tmp_path / name
    with pytest.raises(DataError, match="no network|kept"):
        download_file(f"{server.url}/{name}", dest, md5(data))
    part = tmp_path / f"{name}.part"
    assert part.stat().st_size == len(data) // 3 and not dest.exists()
    download_file(f"{server.url}/{name}", dest, md5(data))
    assert server.ranges == [f"bytes={len(data) // 3}-"] and dest.read_bytes() == data and not part.exists()


def test_checksum_mismatch_deletes_the_file(server, tmp_path):
    name = "train-labels-idx1-ubyte.gz"
    with pytest.raises(DataError, match="checksum mismatch.*deleted"):
        download_file(f"{server.url}/{name}", tmp_path / name, "0" * 32)
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".lock"]  # the lock beside it stays, empty


def test_no_network_is_one_line_with_a_suggestion(tmp_path, monkeypatch, cli_here):
    monkeypatch.setenv("CGAN_STUDIO_DOWNLOAD_BASE", "http://127.0.0.1:9")
    monkeypatch.setenv("CGAN_STUDIO_CACHE", str(tmp_path))
    rc, _, err = cli_here("train", "--dataset", "fashion-mnist", "--steps", "1")
    assert rc == 1 and "no network" in err and "--dataset PATH" in err
    assert "Traceback" not in err


def test_bad_idx_files_name_the_problem(tmp_path):
    files = fixture_idx_files()
    images = gzip.decompress(files["train-images-idx3-ubyte.gz"])
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x01\x02\x08\x03" + images[4:])
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(files["train-labels-idx1-ubyte.gz"])
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_idx_folder(tmp_path, "train")
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((7, 28, 28), np.uint8)))
    with pytest.raises(DataError, match="40 labels for 7 images"):
        load_idx_folder(tmp_path, "train")


def write_images(folder, classes=("cat", "dog"), per_class=6, size=(40, 30), mode="RGB"):
    rng = np.random.default_rng(1)
    for c in classes:
        (folder / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / c / f"{i}.png")
    return folder


def test_image_folder_cases(tmp_path):
    rgb = write_images(tmp_path / "rgb")
    Image.new("RGB", (90, 60)).save(rgb / "cat" / "big.jpg")  # mixed sizes are resized
    (rgb / "dog" / "notes.txt").write_text("not an image")  # ignored
    data = load_dataset(str(rgb), image_size=32)
    assert data.images.shape == (13, 3, 32, 32) and data.class_names == ["cat", "dog"]
    assert load_dataset(str(rgb), image_size=64, color="grey").images.shape == (13, 1, 64, 64)
    grey = write_images(tmp_path / "grey", mode="L")
    assert load_dataset(str(grey)).images.shape[1] == 1  # kept as found
    assert load_dataset(str(grey), color="rgb").images.shape[1] == 3
    cases = {"empty": "no images found", "single": "only one class", "missing": "no such folder"}
    (tmp_path / "empty").mkdir()
    write_images(tmp_path / "single", classes=("cat",))
    for name, message in cases.items():
        with pytest.raises(DataError, match=message) as error:
            load_dataset(str(tmp_path / name))
        assert name in str(error.value)


def test_corrupt_images_skipped_and_listed_below_the_limit_refused_above(tmp_path):
    folder = write_images(tmp_path / "imgs", per_class=20)
    (folder / "cat" / "broken.png").write_bytes(b"\x89PNG garbage")
    warnings = []
    data = load_dataset(str(folder), warn=warnings.append)
    assert len(data) == 40 and any("broken.png" in w for w in warnings)
    for i in range(5):
        (folder / "dog" / f"bad{i}.jpg").write_bytes(b"nope")
    with pytest.raises(DataError, match="6 of 46 images cannot be read"):
        load_dataset(str(folder))


def test_cifar_binary_loads_and_the_pickle_version_is_refused_unread(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        records = np.concatenate([np.arange(4, dtype=np.uint8)[:, None], rng.integers(0, 256, (4, 3072), dtype=np.uint8)], 1)
        records.tofile(folder / name)
    data = load_dataset(str(folder))
    assert data.images.shape == (20, 3, 32, 32) and data.class_names[1] == "automobile"
    assert load_dataset(str(folder), "test").images.shape == (4, 3, 32, 32)
    pickled = tmp_path / "cifar-10-batches-py"
    pickled.mkdir()
    marker = tmp_path / "MARKER"
    hostile_pickle_file(pickled / "data_batch_1", marker)
    with pytest.raises(DataError, match="Python version.*never unpickles"):
        load_dataset(str(pickled))
    assert not marker.exists()


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("size,color", [(32, "rgb"), (64, "keep")])
def test_one_training_step_at_32px_rgb_and_64px(preset, size, color, tmp_path, tiny_mnist):
    folder = write_images(tmp_path / "imgs", classes=("a", "b", "c"), per_class=4, size=(48, 48))
    data = load_dataset(str(folder), image_size=size, color=color)
    trainer = Trainer(TrainConfig(preset=preset, batch_size=4, latent_dim=8, device="cpu"), data)
    stats = trainer.step().as_dict()
    assert all(np.isfinite([stats["d1"], stats["d2"], stats["g"]]))
    out = trainer.generate(torch.randn(2, 8), torch.tensor([0, 2]))
    assert out.shape == (2, 3, size, size)


def test_three_processes_fetching_one_file_download_it_once(server, tmp_path):
    """sweep --parallel 3 on an empty cache: one downloads, the others wait for it and reuse the file."""

    name = "train-images-idx3-ubyte.gz"
    data = server.files[name] * 200  # big enough that the three overlap
    server.files[name] = data
    gets = []
    original = server.httpd.RequestHandlerClass.do_GET
    server.httpd.RequestHandlerClass.do_GET = lambda handler: (gets.append(handler.path), original(handler))
    code = ("import sys; from pathlib import Path; from cgan_core.data.download import download_file; "
            f"download_file({server.url + '/' + name!r}, Path({str(tmp_path / name)!r}), {md5(data)!r}); print('ok')")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 and out.strip() == "ok" for p, (out, _) in zip(procs, results)), results
    assert (tmp_path / name).read_bytes() == data and len(gets) == 1


def test_a_download_is_bounded_in_size(server, tmp_path, monkeypatch):
    """Issue 43: a download had no size bound (the MD5 was checked only at the end): a server that offers, or
    sends, more than any dataset file holds is refused in one line and nothing is kept."""
    import cgan_core.data.download as download

    name = "train-images-idx3-ubyte.gz"
    monkeypatch.setattr(download, "MAX_BYTES", len(server.files[name]) - 1)
    with pytest.raises(DataError, match=f"offers {len(server.files[name]):,} bytes"):
        download_file(f"{server.url}/{name}", tmp_path / name, md5(server.files[name]))
    server.files["endless"] = b"x" * (2 * download.MAX_BYTES)
    server.headers_lie = True
    with pytest.raises(DataError, match="more than .* bytes sent"):
        download_file(f"{server.url}/endless", tmp_path / "endless", md5(b""))
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".lock"]


def test_an_oversized_image_is_skipped_and_counts_are_bounded(tmp_path, monkeypatch):
    import cgan_core.data.folders as folders

    folder = write_images(tmp_path / "imgs", per_class=20)
    Image.new("RGB", (300, 300)).save(folder / "cat" / "huge.png")
    monkeypatch.setattr(folders, "MAX_PIXELS", 200 * 200)
    warnings = []
    assert len(load_dataset(str(folder), image_size=32, warn=warnings.append)) == 40
    assert any("huge.png" in w for w in warnings)
    monkeypatch.setattr(folders, "MAX_IMAGES", 30)
    with pytest.raises(DataError, match="41 images in 2 classes; at most 30 images"):
        load_dataset(str(folder))
