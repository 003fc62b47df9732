"""Reading images safely: stay inside the image root, only formats PIL reads, a size cap against
decompression bombs, and corrupt files reported as such."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# MPO: a phone camera's JPEG with a second, smaller picture after the first (PIL reads the first).
ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP", "TIFF"})
MAX_IMAGE_PIXELS = 64_000_000  # 8000 x 8000; a GRIT_data image is at most a few megapixels
MAX_ASPECT_RATIO = 200  # Qwen-VL processors refuse a longer side over 200 times the shorter


class ImageProblem(ValueError):
    """An image that cannot be used: ``message`` says why, ``fix`` what to do; ``missing`` when no file is there
    (a data file's reader then points at its image folder, ``--images``)."""

    def __init__(self, message: str, fix: str, missing: bool = False):
        super().__init__(message)
        self.message, self.fix, self.missing = message, fix, missing


def resolve_image(image: str, root: Path) -> Path:
    """The image file a record names: absolute paths as given, relative ones under ``root`` and never
    outside it (``../../etc/passwd`` is refused)."""
    path = Path(image)
    if path.is_absolute():
        return path
    link = root / path
    if broken := _broken_link(link):  # name the link the record gives, not only where it leads
        raise ImageProblem(f"image {image!r} is a symbolic link {broken}", LINK_FIX)
    try:
        root, resolved = root.resolve(), link.resolve()
    except (RuntimeError, OSError) as e:  # a loop of links among the folders on the way
        raise ImageProblem(f"image path {image!r} cannot be followed ({e})", LINK_FIX) from e
    if not resolved.is_relative_to(root):
        raise ImageProblem(
            f"image path {image!r} leads outside the image root {root}",
            "use a path inside the image folder (--images), or an absolute path",
        )
    return resolved


LINK_FIX = "point the link at the image, or copy the image there"


def _broken_link(path: Path) -> str | None:
    """Where a symbolic link that leads to no file goes ("to X, which does not exist", "that leads back to
    itself"), or None when ``path`` is no such link."""
    if not path.is_symlink():
        return None
    try:
        path.resolve(strict=True)
    except FileNotFoundError:
        return f"to {os.readlink(path)}, which does not exist"
    except (RuntimeError, OSError):  # a loop of links
        return "that leads back to itself"
    return None


IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")


def _looks_like_an_image(path: Path) -> bool:
    """Whether the file starts as an image format does (then a read failure means damage, not a wrong file)."""
    with path.open("rb") as f:
        return f.read(8).startswith(IMAGE_MAGIC)


def _read(path: Path, max_pixels: int, action):
    """Open ``path`` with every guard (exists, allowed format, size cap, decompression bombs), apply ``action`` to
    the open image, and turn any failure into an :class:`ImageProblem`."""
    if path.is_dir():
        raise ImageProblem(f"image {path} is a folder, not an image file", "give the path of one image in it")
    if broken := _broken_link(path):
        raise ImageProblem(f"image {path} is a symbolic link {broken}", LINK_FIX)
    if path.exists() and not path.is_file():
        raise ImageProblem(f"image {path} is not a regular file (a device, a pipe or a socket)", "give an image file")
    if not path.is_file():
        # A Windows path (images\x.png) names one file here, with a backslash in its name.
        windows = "\\" in path.name and (path.parent / path.name.replace("\\", "/")).is_file()
        raise ImageProblem(
            f"image file {path} does not exist",
            "write the path with / between folders (a Windows path's \\ is part of a file name here)"
            if windows
            else "check the path",
            missing=not windows,
        )
    if not os.access(path, os.R_OK):
        raise ImageProblem(f"image {path} cannot be read (permission denied)", "check the file's permissions")
    if path.stat().st_size == 0:
        raise ImageProblem(f"image {path} is empty (0 bytes)", "copy the image again")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.format not in ALLOWED_FORMATS:
                    raise ImageProblem(
                        f"image {path} is {img.format}, not one of {', '.join(sorted(ALLOWED_FORMATS))}",
                        "convert it to PNG or JPEG",
                    )
                width, height = img.size
                if width * height > max_pixels:
                    raise ImageProblem(
                        f"image {path} is {width}x{height}, over the cap of {max_pixels} pixels", "downscale it"
                    )
                if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
                    raise ImageProblem(
                        f"image {path} is {width}x{height}, one side over {MAX_ASPECT_RATIO} times the other, which "
                        "vision-language processors (Qwen-VL's) refuse",
                        "crop or pad it nearer to square",
                    )
                return action(img)
    except ImageProblem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageProblem(f"image {path} is too large to decode safely ({e})", "downscale it") from e
    except Image.UnidentifiedImageError as e:
        if _looks_like_an_image(path):
            raise ImageProblem(f"image {path} cannot be read (it is damaged: {e})", "replace the corrupt file") from e
        raise ImageProblem(
            f"image {path} cannot be read: it is not an image file (a text or other file?)",
            f"pass an image ({', '.join(sorted(ALLOWED_FORMATS))})",
        ) from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageProblem(f"image {path} cannot be read ({type(e).__name__}: {e})", "replace the corrupt file") from e


def check_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """(width, height) of a readable image of an allowed format and size, upright (see :func:`load_image`);
    ImageProblem otherwise. The pixels are decoded, so that a file cut short is found here and not halfway through an
    evaluation."""

    def upright_size(img):
        img = _upright(img, path)
        if img.mode in WIDE_MODES:  # values that may have no 8-bit reading
            _rgb(img, path)
        return img.size

    return _read(Path(path), max_pixels, upright_size)


def load_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open an image as RGB with the same guards as :func:`check_image`, reading the file once. A photo is turned
    upright as its EXIF orientation says, as viewers show it and as ``datasets`` decodes it for training, so that
    boxes are in the same pixels everywhere."""
    return _read(Path(path), max_pixels, lambda img: _rgb(_upright(img, path), path))


def _upright(img: Image.Image, path: Path) -> Image.Image:
    """``img`` decoded and turned as its EXIF orientation says."""
    img.load()  # a file cut short fails here, as damage, before the EXIF is read
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as e:  # noqa: BLE001 - damaged EXIF raises TypeError, AttributeError, struct.error and more
        raise ImageProblem(
            f"image {path} has damaged EXIF data ({type(e).__name__}: {e}), so its orientation cannot be read",
            "save the image again without its EXIF data, upright",
        ) from e
    return img


def stored_size(path: str | Path) -> tuple[int, int] | None:
    """(width, height) as the file stores the pixels, where its EXIF orientation turns them (else None)."""
    try:
        with Image.open(path) as img:
            turned = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # 0x0112: Orientation; 5-8 swap the sides
            return img.size if turned else None
    except (OSError, ValueError, SyntaxError):
        return None


WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # 16-bit and 32-bit grey


def _rgb(img: Image.Image, path: Path) -> Image.Image:
    """8-bit RGB: 16-bit grey scaled down (converted directly it clips to white), 0-1 floats scaled up,
    transparency laid on white (as transformers' processors do)."""
    if img.mode in WIDE_MODES:
        values = np.asarray(img, dtype=np.float32)
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        if not (0 <= low and high <= (65535 if img.mode != "F" else 255)):  # NaN fails this too
            raise ImageProblem(
                f"image {path} holds {img.mode} values from {low:g} to {high:g}, which have no 8-bit reading",
                "save it as an 8-bit or 16-bit image",
            )
        if img.mode.startswith("I;16") or high > 255:  # 16-bit grey (PIL opens some as 32-bit "I")
            values = values / 257
        elif img.mode == "F" and high <= 1:  # 0-1 floats
            values = values * 255
        return Image.fromarray(np.clip(np.round(values), 0, 255).astype(np.uint8), "L").convert("RGB")
    if "A" in img.getbands() or img.info.get("transparency") is not None:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")
