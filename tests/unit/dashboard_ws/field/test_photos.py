"""Field photos: type by content, full decode, metadata (EXIF GPS) removed unless kept."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from dashboard_ws.field.photos import MAX_PIXELS, CleanPhoto, clean_photo, sniff

GPS_IFD = 0x8825


def photo(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), orientation: int = 1) -> bytes:
    """An image with EXIF: camera model, orientation and a GPS position in Gimpo."""
    exif = Image.Exif()
    exif[0x0110] = "Field Phone 9"
    exif[0x0112] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (37.0, 38.0, 18.6), 3: "E", 4: (126.0, 40.0, 44.8)})
    out = io.BytesIO()
    mode = "RGB" if fmt == "JPEG" else "RGBA"
    Image.new(mode, size, (200, 30, 30)).save(out, fmt, exif=exif)
    return out.getvalue()


def exif_of(data: bytes) -> Image.Exif:
    with Image.open(io.BytesIO(data)) as image:
        return image.getexif()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_gps_and_camera_are_removed(fmt: str) -> None:
    original = photo(fmt)
    assert exif_of(original).get_ifd(GPS_IFD), "the test photo carries a position"
    cleaned = clean_photo(original, keep_location=False)
    assert isinstance(cleaned, CleanPhoto)
    assert cleaned.content_type == {"JPEG": "image/jpeg", "PNG": "image/png"}.get(fmt, "image/webp")
    exif = exif_of(cleaned.data)
    assert not exif.get_ifd(GPS_IFD)
    assert 0x0110 not in exif
    assert b"Field Phone 9" not in cleaned.data
    assert not cleaned.location_kept


def test_the_picture_stays_upright_without_its_orientation_tag() -> None:
    cleaned = clean_photo(photo(orientation=6), keep_location=False)  # rotated 90° in the file
    assert isinstance(cleaned, CleanPhoto)
    assert (cleaned.width, cleaned.height) == (48, 64)
    assert 0x0112 not in exif_of(cleaned.data)


def test_keep_location_stores_the_file_as_it_came() -> None:
    original = photo()
    kept = clean_photo(original, keep_location=True)
    assert isinstance(kept, CleanPhoto)
    assert kept.data == original
    assert kept.location_kept
    assert exif_of(kept.data).get_ifd(GPS_IFD)


def test_type_is_judged_by_the_bytes() -> None:
    assert sniff(photo("PNG")) == "image/png"
    gif = io.BytesIO()
    Image.new("P", (4, 4)).save(gif, "GIF")
    assert "not a JPEG, PNG or WebP" in str(clean_photo(gif.getvalue(), keep_location=False))
    assert "not a JPEG" in str(clean_photo(b"<svg xmlns=...>", keep_location=False))


def test_a_truncated_or_disguised_file_is_refused() -> None:
    whole = photo()
    assert "cannot be decoded" in str(clean_photo(whole[: len(whole) // 2], keep_location=False))
    disguised = b"\xff\xd8\xff" + b"not really a jpeg" * 10
    assert "cannot be decoded" in str(clean_photo(disguised, keep_location=False))
    png_body_as_jpeg = b"\xff\xd8\xff" + photo("PNG")[3:]
    assert isinstance(clean_photo(png_body_as_jpeg, keep_location=False), str)


def test_a_small_file_claiming_a_huge_image_is_refused_before_decoding() -> None:
    side = int(MAX_PIXELS**0.5) + 100
    out = io.BytesIO()
    Image.new("1", (side, side)).save(out, "PNG")  # compresses to a few kilobytes
    assert len(out.getvalue()) < 200_000
    problem = clean_photo(out.getvalue(), keep_location=False)
    assert isinstance(problem, str)
    assert "pixels" in problem
