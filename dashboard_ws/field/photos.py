"""Photos of field reports: the type read from the bytes, the whole image decoded (Pillow), and
the metadata removed (no I/O; CPU-bound: the gateway runs it in a worker thread).

A photo is accepted when its first bytes are those of a JPEG, PNG or WebP file (whatever name or
type the client claims), it decodes completely with that format's decoder, and it has at most
:data:`MAX_PIXELS` pixels (a small file can still claim a huge image). Unless the inspector asks
to keep the location, the image is encoded again without any metadata (EXIF with its GPS
position, camera serial and time; XMP; text chunks): only the pixels, turned the way the camera's
orientation tag said, and the colour profile are kept. With ``keep_location`` the file is stored
as it came.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["MAX_PIXELS", "CleanPhoto", "clean_photo", "sniff"]

MAX_PIXELS = 50_000_000  # 50 megapixels: more than any phone camera makes
JPEG_QUALITY = 90
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class CleanPhoto:
    content_type: str
    width: int
    height: int
    data: bytes
    location_kept: bool

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.data).digest()


def sniff(data: bytes) -> str | None:
    """The image type the bytes begin with (their "magic number"), or None.

    >>> sniff(b"\\xff\\xd8\\xff\\xe0..."), sniff(b"\\x89PNG\\r\\n\\x1a\\n..."), sniff(b"GIF89a")
    ('image/jpeg', 'image/png', None)
    >>> sniff(b"RIFF\\x00\\x00\\x00\\x00WEBPVP8 ")
    'image/webp'
    """
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def clean_photo(data: bytes, *, keep_location: bool) -> CleanPhoto | str:
    """The photo to store, or why it is refused (a sentence for the client)."""
    content_type = sniff(data)
    if content_type is None:
        return "not a JPEG, PNG or WebP image (judged by its bytes, not its name)"
    fmt = _FORMATS[content_type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    return f"the image has {width}×{height} pixels; at most {MAX_PIXELS:,} accepted"
                image.load()  # decode it all: a truncated or corrupt file fails here
                if keep_location:
                    return CleanPhoto(content_type, width, height, data, location_kept=True)
                stripped = _without_metadata(image, fmt)
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        ValueError,
        SyntaxError,  # Pillow's plugins raise it for some malformed headers
    ) as exc:
        return f"the image cannot be decoded as {fmt}: {str(exc)[:120] or type(exc).__name__}"
    return stripped


def _without_metadata(image: Image.Image, fmt: str) -> CleanPhoto:
    icc = image.info.get("icc_profile")
    upright = ImageOps.exif_transpose(image)  # the pixels as the camera meant them shown
    pixels = Image.new(upright.mode, upright.size)  # a fresh image carries no info dict
    pixels.paste(upright)
    if upright.mode == "P" and upright.palette is not None:
        pixels.putpalette(upright.palette)
    options: dict[str, object] = {}
    if icc:
        options["icc_profile"] = icc
    if fmt == "JPEG":
        if pixels.mode not in ("L", "RGB", "CMYK"):
            pixels = pixels.convert("RGB")
        options.update(quality=JPEG_QUALITY, subsampling="4:2:0")
    elif fmt == "WEBP":
        options.update(quality=JPEG_QUALITY)
    out = io.BytesIO()
    pixels.save(out, format=fmt, **options)
    content_type = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}[fmt]
    return CleanPhoto(content_type, pixels.width, pixels.height, out.getvalue(), False)
