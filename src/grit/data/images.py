"""Reading images safely: stay inside the image root, only formats PIL reads, a size cap against
decompression bombs, and corrupt files reported as such."""

from __future__ import annotations

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


def check_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """(width, height) of a readable image of an allowed format and size; ImageProblem otherwise."""
    if not path.is_file():
        raise ImageProblem(f"image file {path} does not exist", "check the image folder (--images) and the path")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt, size = img.format, img.size
                if fmt not in ALLOWED_FORMATS:
                    raise ImageProblem(
                        f"image {path} is {fmt}, not one of {', '.join(sorted(ALLOWED_FORMATS))}",
                        "convert it to PNG or JPEG",
                    )
                if size[0] * size[1] > max_pixels:
                    raise ImageProblem(
                        f"image {path} is {size[0]}x{size[1]}, over the cap of {max_pixels} pixels",
                        "downscale it (or raise the cap if you trust the file)",
                    )
                img.verify()
    except ImageProblem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageProblem(f"image {path} is too large to decode safely ({e})", "downscale it") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageProblem(f"image {path} cannot be read ({type(e).__name__}: {e})", "replace the corrupt file") from e
    return size


def load_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Open an image as RGB with the same guards as :func:`check_image`."""
    path = Path(path)
    check_image(path, max_pixels)
    with Image.open(path) as img:
        return img.convert("RGB")
