"""Training data uploaded as a zip (ganzoo.uploads): hostile until proven otherwise."""

import io
import zipfile
from pathlib import Path

import pytest
from ganzoo import uploads
from ganzoo.uploads import UploadError, extract_images
from PIL import Image


def png(size=(8, 8), colour=128) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", size, colour).save(buffer, format="png")
    return buffer.getvalue()


def make_zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def classes(n: int = 10, top: str = "set/") -> dict:
    return {f"{top}{label}/{i}.png": png(colour=i) for label in ("cats", "dogs") for i in range(n)}


def test_images_land_in_one_folder_per_class_and_the_rest_is_counted(tmp_path):
    members = {**classes(), "set/notes.txt": "hello", "set/fake.png": "not a png at all",
               "__MACOSX/set/._0.png": "resource fork", "set/.DS_Store": "junk"}
    extracted = extract_images(make_zip(tmp_path / "a.zip", members), tmp_path / "job" / "data")
    assert (extracted.images, extracted.skipped, extracted.classes) == (20, 4, ["cats", "dogs"])
    written = [path for path in (tmp_path / "job").rglob("*") if path.is_file()]
    files = sorted(path.relative_to(tmp_path / "job" / "data").as_posix() for path in written)
    assert files == [f"{label}/{i:06d}.png" for label in ("cats", "dogs") for i in range(10)]
    assert extracted.summary("a.zip") == "a.zip: 20 images in 2 class(es), 4 other file(s) skipped"


def test_images_at_the_top_are_one_class(tmp_path):
    members = {f"{i}.png": png(colour=i) for i in range(16)}
    assert extract_images(make_zip(tmp_path / "a.zip", members), tmp_path / "out").classes == ["all"]


@pytest.mark.parametrize("name", ["../evil.png", "set/../../evil.png", "/tmp/evil.png", "C:/evil.png", "..\\evil.png"])
def test_a_name_that_leaves_the_folder_is_refused_and_nothing_is_written(tmp_path, name):
    path = make_zip(tmp_path / "evil.zip", {**classes(), name: png()})
    with pytest.raises(UploadError, match=r"a path outside the zip's own folder; refused"):
        extract_images(path, tmp_path / "job" / "data")
    assert not (tmp_path / "job").exists() and not (tmp_path / "evil.png").exists()


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("set/a/bomb.png", "w") as member:
            for _ in range(20):
                member.write(bytes(1024 * 1024))  # 20 MB of zeros pack into ~20 kB
    assert path.stat().st_size < 100_000
    with pytest.raises(UploadError, match=r"looks like a zip bomb: 'set/a/bomb.png' unpacks from 0\.0 MB to 20\.0 MB"):
        extract_images(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_unpacked_size_is_counted_as_it_comes_out(tmp_path, monkeypatch):
    path = make_zip(tmp_path / "a.zip", classes())
    monkeypatch.setattr(uploads, "MAX_UNCOMPRESSED_BYTES", 500)  # the 20 images take about 1.4 kB
    with pytest.raises(UploadError, match=r"unpacks to .* MB; at most 0\.0 MB are taken"):
        extract_images(path, tmp_path / "out")
    monkeypatch.setattr(uploads, "_check_members", lambda members, name: None)  # a zip that lies about its sizes
    with pytest.raises(UploadError, match=r"unpacks to over 0\.0 MB; refused"):
        extract_images(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("limit, value, message", [
    ("MAX_ZIP_BYTES", 1000, r"a\.zip is .* MB; a zip of training images may be at most"),
    ("MAX_FILES", 5, r"a\.zip holds 20 files; at most 5 are taken"),
    ("MAX_IMAGE_PIXELS", 32, r"'set/cats/0\.png' is 8x8; images of at most 32 pixels"),
    ("MAX_TOTAL_PIXELS", 640, r"the images hold over 640 pixels together"),
])
def test_each_limit_refuses_with_its_message(tmp_path, monkeypatch, limit, value, message):
    path = make_zip(tmp_path / "a.zip", classes())
    monkeypatch.setattr(uploads, limit, value)
    with pytest.raises(UploadError, match=message):
        extract_images(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_zip_of_text_files_is_refused_with_the_count(tmp_path):
    path = make_zip(tmp_path / "text.zip", {f"notes/{i}.txt": "words" for i in range(3)})
    with pytest.raises(UploadError, match=r"text\.zip holds 0 image\(s\) \(3 other file\(s\) skipped: not PNG, "
                                          r"JPEG, BMP, GIF or WebP images\); training needs at least 16"):
        extract_images(path, tmp_path / "out")


def test_too_few_images_is_refused(tmp_path):
    path = make_zip(tmp_path / "few.zip", {f"{i}.png": png() for i in range(5)})
    with pytest.raises(UploadError, match=r"few\.zip holds 5 image\(s\); training needs at least 16"):
        extract_images(path, tmp_path / "out")


def test_not_a_zip_and_a_password_are_refused(tmp_path):
    (tmp_path / "x.zip").write_text("this is not a zip")
    with pytest.raises(UploadError, match=r"x\.zip is not a zip file"):
        extract_images(tmp_path / "x.zip", tmp_path / "out")
    path = make_zip(tmp_path / "locked.zip", classes())
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")  # the first member's entry: set "encrypted" in its flags
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))
    with pytest.raises(UploadError, match="password-protected"):
        extract_images(path, tmp_path / "out")
