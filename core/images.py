"""Between tensors in [-1, 1] and PIL images; reading user images safely."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from .errors import UserError

# Pillow refuses to open images over this many pixels (decompression bombs); a photo of a
# 50-megapixel camera still opens.
MAX_INPUT_PIXELS = 64_000_000


class BadImageError(UserError):
    pass


def to_pil(image: torch.Tensor) -> Image.Image:
    """One image (C, H, W) in [-1, 1] -> a PIL image, grey ("L") or "RGB"."""
    array = ((image.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
    if array.shape[0] == 1:
        return Image.fromarray(array[0].numpy(), mode="L")
    return Image.fromarray(array.permute(1, 2, 0).numpy(), mode="RGB")


def to_pil_list(batch: torch.Tensor) -> list[Image.Image]:
    return [to_pil(image) for image in batch]


def to_tensor(image: Image.Image, channels: int) -> torch.Tensor:
    """A PIL image of any mode -> (C, H, W) in [-1, 1] with the given number of channels."""
    image = convert_mode(image, channels)
    data = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    data = data.view(image.height, image.width, channels).permute(2, 0, 1)
    return data.float() / 127.5 - 1


def convert_mode(image: Image.Image, channels: int) -> Image.Image:
    """Grey, RGB, RGBA, palette, 16-bit ... -> "L" or "RGB". Transparency is laid on white,
    which is how a viewer shows it."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    if image.mode.startswith("I"):  # 16- or 32-bit grey: scale to 8 bits, not clip
        image = image.point(lambda v: v / 256).convert("L")
    return image.convert("L" if channels == 1 else "RGB")


def open_image(source) -> Image.Image:
    """Open a path or file-like as an image, with a message that says what to do when it is
    not one, or is too large."""
    name = Path(source).name if isinstance(source, (str, Path)) else "the uploaded file"
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS
    try:
        image = Image.open(source)
        image.load()
    except FileNotFoundError:
        raise BadImageError(f"no file at {source}: check the path") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise BadImageError(f"{name} is not an image Pillow can read ({error}); "
                            f"use a PNG, JPEG, WebP, BMP or GIF file") from None
    except Image.DecompressionBombError:
        raise BadImageError(f"{name} has over {MAX_INPUT_PIXELS:,} pixels; "
                            f"downscale it before uploading") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return image


def fit_within(image: Image.Image, max_side: int, multiple: int = 4) -> Image.Image:
    """Downscale so the longest side is at most ``max_side``, keeping the aspect ratio, and
    round both sides to a multiple of ``multiple`` (convolutional nets that halve and double
    the size need it)."""
    scale = min(1.0, max_side / max(image.size))
    width = max(multiple, round(image.width * scale / multiple) * multiple)
    height = max(multiple, round(image.height * scale / multiple) * multiple)
    if (width, height) == image.size:
        return image
    return image.resize((width, height), Image.Resampling.BICUBIC)


def make_grid(images: list[Image.Image], columns: int, padding: int = 2) -> Image.Image:
    """Lay images out in rows of ``columns`` on a white background."""
    if not images:
        raise ValueError("no images to lay out")
    mode = "RGB" if any(im.mode != "L" for im in images) else "L"
    width = max(im.width for im in images)
    height = max(im.height for im in images)
    rows = -(-len(images) // columns)
    grid = Image.new(mode, (columns * (width + padding) + padding, rows * (height + padding) + padding),
                     "white")
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid.paste(image.convert(mode), (padding + column * (width + padding), padding + row * (height + padding)))
    return grid
