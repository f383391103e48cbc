"""Uploads are hostile until proven otherwise: an image's size is checked from its header
before a pixel is decoded, and every bad upload or number gets a message that says what is
wrong, through the real app and gradio_client."""

import re
import struct
import zlib

import httpx
import pytest
from ganzoo import images, ui
from ganzoo.app import MAX_FILE_SIZE, build_app
from ganzoo.images import MAX_INPUT_PIXELS, BadImageError, open_image
from ganzoo.registry import registry
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image, ImageFile
from served_app import served


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def black_png(path, width: int, height: int, complete: bool = True):
    """A valid all-black grey PNG of any size, written row by row: 9000x8000 is 72 MB of pixels
    in ~70 kB of file. ``complete=False`` writes the header and one small block of rows only."""
    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then black pixels
    rows = height if complete else min(height, 16)
    data = b"".join(compressor.compress(row * min(256, rows - i)) for i in range(0, rows, 256))
    data += compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b""))
    return path


@pytest.fixture
def decoded_sizes(monkeypatch):
    """The sizes of the images Pillow decodes, on any thread, while the test runs."""
    sizes, load = [], ImageFile.ImageFile.load

    def spy(self):
        sizes.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return sizes


# --------------------------------------------------------------------------- open_image


def test_an_image_over_the_limit_is_refused_from_its_header(tmp_path, decoded_sizes):
    path = black_png(tmp_path / "big.png", 9000, 8000)  # 72 megapixels, under Pillow's own limit
    assert path.stat().st_size < 200_000
    with pytest.raises(BadImageError, match=r"big\.png is 9000x8000, 72,000,000 pixels; downscale it"):
        open_image(path)
    assert decoded_sizes == []  # refused before a pixel was decoded
    black_png(tmp_path / "fits.png", 4000, 3000)
    assert open_image(tmp_path / "fits.png").size == (4000, 3000)


def test_open_image_leaves_pillows_process_wide_limit_alone(tmp_path, monkeypatch):
    """Requests run on many threads: a limit set for one would apply to all of them, and be
    restored by whichever finishes first."""
    seen, real_open = [], Image.open

    def spy(*args, **kwargs):
        seen.append(Image.MAX_IMAGE_PIXELS)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(images.Image, "open", spy)
    default = Image.MAX_IMAGE_PIXELS
    open_image(black_png(tmp_path / "small.png", 40, 30))
    assert seen == [default] and Image.MAX_IMAGE_PIXELS == default


@pytest.mark.parametrize("kind, message", [
    ("bomb", r"bomb\.png is far too large .*downscale it"),
    ("text", r"text\.png is not an image Pillow can read"),
    ("truncated", r"truncated\.png is damaged or cut short"),
])
def test_bad_files_say_what_is_wrong(tmp_path, kind, message):
    with pytest.raises(BadImageError, match=message):
        open_image(bad_file(tmp_path, kind))


def bad_file(tmp_path, kind: str):
    if kind == "bomb":  # 400 megapixels: over Pillow's own limit too
        return black_png(tmp_path / "bomb.png", 20000, 20000, complete=False)
    if kind == "text":
        path = tmp_path / "text.png"
        path.write_text("this is not an image\n" * 20)
        return path
    path = tmp_path / "truncated.png"
    Image.effect_noise((64, 64), 60).save(path)
    path.write_bytes(path.read_bytes()[:2000])
    return path


# --------------------------------------------------------------------------- through the app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    for name in ("DCGAN", "CYCLEGAN"):
        monkeypatch.delenv(f"GANZOO_WEIGHTS_{name}", raising=False)  # the bundled weights
    monkeypatch.setattr(ui, "MODELS", ui.ModelCache())
    demo = build_app({name: registry()[name] for name in ("dcgan", "cyclegan")})
    with served(demo) as url:
        yield Client(url, verbose=False, download_files=str(tmp_path_factory.mktemp("dl")))
    monkeypatch.undo()


def translate(client, path):
    return client.predict(handle_file(str(path)), "a2b", api_name="/cyclegan")


def test_an_upload_over_the_pixel_limit_is_refused_undecoded(client, tmp_path, decoded_sizes):
    with pytest.raises(AppError, match=r"big\.png is 9000x8000, 72,000,000 pixels"):
        translate(client, black_png(tmp_path / "big.png", 9000, 8000))
    assert not [size for size in decoded_sizes if size[0] * size[1] > MAX_INPUT_PIXELS]
    image, weights = translate(client, black_png(tmp_path / "small.png", 40, 30))
    assert Image.open(image).width > 0 and "bundled" in weights


@pytest.mark.parametrize("kind, message", [
    ("bomb", r"bomb\.png is far too large"),
    ("text", r"text\.png is not an image Pillow can read"),
    ("truncated", r"truncated\.png is damaged or cut short"),
])
def test_a_bad_upload_gets_a_message(client, tmp_path, kind, message):
    with pytest.raises(AppError, match=message):
        translate(client, bad_file(tmp_path, kind))


@pytest.mark.parametrize("seed", ["abc", 1e30])
def test_a_bad_seed_gets_a_message(client, seed):
    """Gradio's own rounding once failed on "abc" before ganzoo saw it; 1e30 overflowed torch."""
    with pytest.raises(AppError, match=rf"seed must be a whole number between 0 and \d+, not {re.escape(repr(seed))}"):
        client.predict(seed, 4, api_name="/dcgan")


def test_an_upload_over_the_file_size_limit_is_refused(client, tmp_path):
    limit = int(MAX_FILE_SIZE.removesuffix("mb")) * 1024 * 1024
    path = tmp_path / "huge.png"
    with open(path, "wb") as file:
        file.truncate(limit + 1)
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {limit} bytes"):
        translate(client, path)  # gradio_client reads the limit from the app's config
    with open(path, "rb") as file:  # and the server refuses it from a caller that does not
        response = httpx.post(f"{client.src.rstrip('/')}/gradio_api/upload", files={"files": ("huge.png", file)})
    assert response.status_code == 413
