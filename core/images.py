"""Between tensors in [-1, 1] and PIL images; reading user images safely."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError

from .errors import UserError

# open_image refuses images over this many pixels, from the header, before decoding them
# (decompression bombs); a photo of a 50-megapixel camera still opens.
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


def open_image(source, max_pixels: int = MAX_INPUT_PIXELS) -> Image.Image:
    """Open a path or file-like as an image, with a message that says what to do when it is
    not one, is damaged, or is too large.

    The size is checked from the header, before any pixel is decoded: a 700 kB PNG can
    declare 13000x13000 pixels and take gigabytes to decode. Pillow's process-wide
    ``Image.MAX_IMAGE_PIXELS`` is left as it is (requests run on many threads at once)."""
    name = Path(source).name if isinstance(source, (str, Path)) else "the uploaded file"
    too_large = f"downscale it to at most {max_pixels:,} pixels (8000x8000 is {8000 * 8000:,}) and try again"
    try:
        image = Image.open(source)  # reads the header only
    except FileNotFoundError:
        raise BadImageError(f"no file at {source}: check the path") from None
    except Image.DecompressionBombError as error:  # over Pillow's own limit, refused at the header
        raise BadImageError(f"{name} is far too large ({error}); {too_large}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise BadImageError(f"{name} is not an image Pillow can read ({error}); "
                            f"use a PNG, JPEG, WebP, BMP or GIF file") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise BadImageError(f"{name} is {width}x{height}, {width * height:,} pixels; {too_large}")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        image.close()
        raise BadImageError(f"{name} is damaged or cut short ({error}); save or download it again") from None
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


def make_grid(images: list[Image.Image], columns: int, padding: int = 2,
              row_labels: list[str] | None = None) -> Image.Image:
    """Lay images out in rows of ``columns`` on a white background; ``row_labels``, one per row,
    are written in black to the left of their rows in Pillow's default font."""
    from PIL import ImageDraw, ImageFont

    if not images:
        raise ValueError("no images to lay out")
    mode = "RGB" if any(im.mode != "L" for im in images) else "L"
    width = max(im.width for im in images)
    height = max(im.height for im in images)
    rows = -(-len(images) // columns)
    font = ImageFont.load_default() if row_labels else None
    margin = 0 if font is None else padding + max(math.ceil(font.getlength(str(label))) for label in row_labels)
    grid = Image.new(mode, (margin + columns * (width + padding) + padding, rows * (height + padding) + padding),
                     "white")
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid.paste(image.convert(mode), (margin + padding + column * (width + padding),
                                         padding + row * (height + padding)))
    if font is not None:
        draw = ImageDraw.Draw(grid)
        for row, label in enumerate(row_labels[:rows]):
            _, top, _, bottom = font.getbbox(str(label))
            middle = padding + row * (height + padding) + height / 2
            draw.text((padding, round(middle - (top + bottom) / 2)), str(label), fill="black", font=font)
    return grid


# An animation's frames are shown this long each: 32 frames take 2.5 s.
FRAME_MS = 80
ANIMATION_FORMATS = {".webp": "WEBP", ".gif": "GIF"}


def save_animation(frames: list[Image.Image], path: str | Path, frame_ms: int = FRAME_MS) -> Path:
    """Write ``frames`` as an animation that loops, in the format of ``path``'s suffix: animated
    WebP (lossless) or GIF; any other suffix is refused."""
    path = Path(path)
    kind = ANIMATION_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise UserError(f"{path.name}: an animation is written as .webp or .gif, not {path.suffix or 'no suffix'}")
    options = {"lossless": True} if kind == "WEBP" else {}
    frames[0].save(path, format=kind, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0, **options)
    return path
