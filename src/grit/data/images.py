"""Reading images safely: stay inside the image root, only formats PIL reads, a size cap against
decompression bombs, and corrupt files reported as such."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from PIL import Image

ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"})
MAX_IMAGE_PIXELS = 64_000_000  # 8000 x 8000; a GRIT_data image is at most a few megapixels


class ImageProblem(ValueError):
    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.message, self.fix = message, fix


def resolve_image(image: str, root: Path) -> Path:
    """The image file a record names: absolute paths as given, relative ones under ``root`` and never
    outside it (``../../etc/passwd`` is refused)."""
    path = Path(image)
    if path.is_absolute():
        return path
    root = root.resolve()
    resolved = (root / path).resolve()
    if not resolved.is_relative_to(root):
        raise ImageProblem(
            f"image path {image!r} leads outside the image root {root}",
            "use a path inside the image folder (--images), or an absolute path",
        )
    return resolved


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
    if not path.is_file():
        raise ImageProblem(f"image file {path} does not exist", "check the image folder (--images) and the path")
    if not os.access(path, os.R_OK):
        raise ImageProblem(f"image {path} cannot be read (permission denied)", "check the file's permissions")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.format not in ALLOWED_FORMATS:
                    raise ImageProblem(
                        f"image {path} is {img.format}, not one of {', '.join(sorted(ALLOWED_FORMATS))}",
                        "convert it to PNG or JPEG",
                    )
                if img.size[0] * img.size[1] > max_pixels:
                    raise ImageProblem(
                        f"image {path} is {img.size[0]}x{img.size[1]}, over the cap of {max_pixels} pixels",
                        "downscale it (or raise the cap if you trust the file)",
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
    """(width, height) of a readable image of an allowed format and size; ImageProblem otherwise."""

    def verify(img):
        size = img.size
        img.verify()
        return size

    return _read(Path(path), max_pixels, verify)


def load_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open an image as RGB with the same guards as :func:`check_image`, reading the file once."""
    return _read(Path(path), max_pixels, lambda img: img.convert("RGB"))
