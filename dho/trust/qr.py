"""QR codes for health certificates: draw them (PNG, SVG) and read them back from photos or scans.

Encoding uses segno. A ``shc:/`` SMART Health Card is written as two segments, the prefix (and chunk
header) in byte mode and the digits in numeric mode, which is what makes those cards fit; HCERT
(``HC1:`` base45) is entirely in the QR alphanumeric set, so segno picks that mode by itself. The
error correction level is exactly the one asked for (no silent boost), by default L for SMART Health
Cards (as their specification asks) and Q for everything else (the EU DCC recommendation).

Decoding uses zxing-cpp on a Pillow image. The file is treated as hostile: only PNG and JPEG are
opened (checked by content, not by name), the byte size and the declared pixel count are checked
before any pixel is decoded, and every decoder error becomes a :class:`QrImageError` with a stable code.
"""

from __future__ import annotations

import io
import re
import threading

import segno
import zxingcpp
from PIL import Image, ImageFile, ImageFilter, ImageOps
from segno import consts

from dho.trust.outcome import define

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_PIXELS = 40_000_000
_WORK_SIDE = 1600  # longest side of the downscaled retry
_SHC_HEADER = re.compile(r"(shc:/(?:\d{1,3}/\d{1,3}/)?)(\d+)", re.IGNORECASE)
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"

define("QR_NOT_IMAGE", "image", "The file is not a PNG or JPEG image", "Le fichier n’est pas une image PNG ou JPEG")
define("QR_IMAGE_CORRUPT", "image", "The image is damaged or truncated and cannot be read",
       "L’image est endommagée ou tronquée et ne peut pas être lue")
define("QR_TOO_LARGE", "image", "The image is too large to process", "L’image est trop grande pour être traitée")
define("QR_NOT_FOUND", "image", "No QR code could be read in the image",
       "Aucun code QR n’a pu être lu dans l’image")


class QrImageError(ValueError):
    """An image that cannot be read as QR codes. ``code`` is a registered QR_ code (stage "image")."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --- encoding ----------------------------------------------------------------------------------------


def _make(content: str, error: str | None) -> segno.QRCode:
    match = _SHC_HEADER.fullmatch(content)
    if match:
        data: str | list[tuple[str, int]] = [(match.group(1), consts.MODE_BYTE),
                                             (match.group(2), consts.MODE_NUMERIC)]
        level = error or "L"
    else:
        data, level = content, error or "Q"
    return segno.make(data, error=level, micro=False, boost_error=False)


def encode_png(content: str, *, scale: int = 4, border: int = 4, error: str | None = None) -> bytes:
    """A black-on-white PNG of ``content``; ``scale`` is pixels per module, ``border`` quiet-zone modules.
    ``error`` is "L", "M", "Q" or "H" (default: L for ``shc:/``, Q otherwise)."""
    out = io.BytesIO()
    _make(content, error).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()


def encode_svg(content: str, *, scale: int = 4, border: int = 4, error: str | None = None) -> str:
    """The same QR code as :func:`encode_png`, as a standalone SVG document (text)."""
    out = io.BytesIO()
    _make(content, error).save(out, kind="svg", scale=scale, border=border, xmldecl=False, svgns=True,
                               title=None, desc=None)
    return out.getvalue().decode("utf-8")


# --- decoding ----------------------------------------------------------------------------------------


def _open(data: bytes, max_bytes: int, max_pixels: float) -> Image.Image:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise QrImageError("QR_NOT_IMAGE", "expected the bytes of a PNG or JPEG file")
    data = bytes(data)
    if len(data) > max_bytes:
        raise QrImageError("QR_TOO_LARGE", f"{len(data)} bytes, limit {max_bytes}")
    if not (data.startswith(_PNG) or data.startswith(_JPEG)):
        raise QrImageError("QR_NOT_IMAGE", "the content is neither PNG nor JPEG")
    try:
        # Reads only the header: the size is known before any pixel is decompressed.
        image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
    except Image.DecompressionBombError as exc:
        raise QrImageError("QR_TOO_LARGE", str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise QrImageError("QR_IMAGE_CORRUPT", str(exc) or type(exc).__name__) from None
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise QrImageError("QR_TOO_LARGE", f"{width}×{height} pixels, limit {int(max_pixels)}")
    try:
        _load_strict(image)
    except Image.DecompressionBombError as exc:
        raise QrImageError("QR_TOO_LARGE", str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise QrImageError("QR_IMAGE_CORRUPT", str(exc) or type(exc).__name__) from None
    return image


_STRICT = threading.Lock()


def _load_strict(image: Image.Image) -> None:
    """Decode the pixels, refusing a truncated file. Pillow's tolerance of truncated images is one
    process-wide switch, and WeasyPrint (the PDF reports) turns it on when it is imported: turn it off
    for this one decode. The lock keeps two decodes here from restoring each other's value; a PDF laid
    out meanwhile only embeds the platform's own complete pictures, so strictness cannot hurt it."""
    with _STRICT:
        saved = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            image.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _grayscale(image: Image.Image) -> Image.Image:
    """8-bit grayscale; transparent pixels become white (a QR drawn on a transparent background)."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode.startswith("I;16") or image.mode == "I":
        image = image.convert("I").point(lambda v: v * (1 / 256))  # 16-bit samples to 8-bit
    return image.convert("L")


def _variants(gray: Image.Image):
    """Retries when the plain pass finds nothing: resized to a workable size, denoised (median filter,
    which removes sensor and JPEG speckle that breaks the decoder's binariser), contrast-stretched,
    then thresholded at the grey level that best splits dark from light."""
    if max(gray.size) > _WORK_SIDE:
        gray = gray.copy()
        gray.thumbnail((_WORK_SIDE, _WORK_SIDE), Image.Resampling.LANCZOS)
        yield gray
    elif max(gray.size) < 400:
        factor = -(-400 // max(gray.size))
        gray = gray.resize((gray.width * factor, gray.height * factor), Image.Resampling.NEAREST)
        yield gray
    denoised = gray.filter(ImageFilter.MedianFilter(3))
    yield denoised
    stretched = ImageOps.autocontrast(denoised, cutoff=1)
    yield stretched
    threshold = _otsu(stretched.histogram())
    yield stretched.point(lambda v: 255 if v > threshold else 0)


def _otsu(histogram: list[int]) -> int:
    """The grey level that best separates dark from light pixels (Otsu's method)."""
    total = sum(histogram)
    weighted = sum(i * n for i, n in enumerate(histogram))
    best, threshold, count_low, sum_low = -1.0, 127, 0, 0
    for level, n in enumerate(histogram):
        count_low += n
        sum_low += level * n
        count_high = total - count_low
        if count_low == 0 or count_high == 0:
            continue
        mean_low, mean_high = sum_low / count_low, (weighted - sum_low) / count_high
        spread = count_low * count_high * (mean_low - mean_high) ** 2
        if spread > best:
            best, threshold = spread, level
    return threshold


def _read(image: Image.Image) -> list[str]:
    found = []
    for barcode in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode,
                                          text_mode=zxingcpp.TextMode.Plain):
        if barcode.valid and barcode.text not in found:
            found.append(barcode.text)
    return found


def decode_image(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 max_pixels: float = DEFAULT_MAX_PIXELS) -> list[str]:
    """The text of every QR code in a PNG or JPEG photo or scan, duplicates removed.
    Raises :class:`QrImageError` (QR_NOT_IMAGE, QR_IMAGE_CORRUPT, QR_TOO_LARGE, QR_NOT_FOUND)."""
    image = _open(data, max_bytes, max_pixels)
    try:
        gray = _grayscale(ImageOps.exif_transpose(image) or image)
        found = _read(gray)
        for variant in _variants(gray) if not found else ():
            found = _read(variant)
            if found:
                break
    except (OSError, ValueError, SyntaxError) as exc:
        raise QrImageError("QR_IMAGE_CORRUPT", str(exc) or type(exc).__name__) from None
    if not found:
        raise QrImageError("QR_NOT_FOUND", "no readable QR code")
    return found
