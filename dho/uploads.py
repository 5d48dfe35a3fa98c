"""Checking uploaded files before anything is stored: name, size, type and, for ZIP-based office
documents, the archive itself (no zip bombs, no hostile member names).

The type is decided by the file's content (``filetype`` reads its signature), and must agree with
both the name's extension and the type the client declared. Files are stored by SHA-256 in the
database, so the file name is only a label: it never reaches the file system."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

import filetype

from dho import ziparchive
from dho.errors import FieldError, PayloadTooLarge, ValidationFailed
from dho.i18n import _
from dho.ziparchive import Limits as ZipLimits

MAX_NAME = 200
OOXML = "application/vnd.openxmlformats-officedocument."
ODF = "application/vnd.oasis.opendocument."
TYPES: dict[str, tuple[str, ...]] = {
    # media type: accepted extensions
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "text/plain": (".txt",),
    "text/csv": (".csv",),
    OOXML + "wordprocessingml.document": (".docx",),
    OOXML + "spreadsheetml.sheet": (".xlsx",),
    OOXML + "presentationml.presentation": (".pptx",),
    ODF + "text": (".odt",),
    ODF + "spreadsheet": (".ods",),
    ODF + "presentation": (".odp",),
}
TEXT_TYPES = ("text/plain", "text/csv")
GENERIC_DECLARED = ("", "application/octet-stream", "binary/octet-stream")


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    media_type: str
    size: int
    sha256: str
    content: bytes


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(_("The file was refused; nothing was saved."), errors=[FieldError(field, message)])


def check_filename(name: str) -> str:
    """A label safe to show and to send back in Content-Disposition: refused (not repaired) when it
    holds a path, a control character or nothing."""
    name = unicodedata.normalize("NFC", name or "").strip()
    if not name:
        raise _refuse("filename", _("is missing"))
    if len(name) > MAX_NAME:
        raise _refuse("filename", _("is too long (at most %(n)s characters)", n=MAX_NAME))
    if any(ch in name for ch in "/\\:") or name in (".", "..") or name.startswith(".") or ".." in name:
        raise _refuse("filename", _("must be a plain file name, without folders"))
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise _refuse("filename", _("contains control characters"))
    return name


def check_zip(data: bytes, limits: ZipLimits = ZipLimits()) -> None:
    """An office document (a ZIP container) only if it is sound: see :mod:`dho.ziparchive`."""
    try:
        with ziparchive.open_zip(data) as archive:
            ziparchive.check(archive, limits)
    except ValidationFailed as exc:
        raise _refuse("file", exc.detail) from None


def _sniff(data: bytes) -> str | None:
    kind = filetype.guess(data[:8192]) if data else None
    if kind is not None:
        return str(kind.mime)
    if b"\x00" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain"


def check_upload(filename: str, declared_type: str, data: bytes, *, max_bytes: int,
                 zip_limits: ZipLimits = ZipLimits()) -> CheckedFile:
    """Validate one uploaded file; raise a ValidationFailed (or PayloadTooLarge) naming what is wrong."""
    name = check_filename(filename)
    if len(data) > max_bytes:
        raise PayloadTooLarge(_("The file is larger than the limit of %(n)s MB.", n=round(max_bytes / 1_000_000, 1)))
    if not data:
        raise _refuse("file", _("is empty"))
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    by_ext = next((mt for mt, exts in TYPES.items() if ext in exts), None)
    if by_ext is None:
        allowed = ", ".join(sorted(e for exts in TYPES.values() for e in exts))
        raise _refuse("filename", _("has a type that is not accepted (accepted: %(list)s)", list=allowed))
    sniffed = _sniff(data)
    if sniffed == "application/zip" and by_ext.startswith((OOXML, ODF)):
        sniffed = by_ext  # an office document whose signature the detector could not place more precisely
    if sniffed == "text/plain" and by_ext in TEXT_TYPES:
        sniffed = by_ext
    if sniffed != by_ext:
        raise _refuse("file", _("does not contain what its name says (%(ext)s)", ext=ext))
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared not in GENERIC_DECLARED and declared != by_ext and not (
            declared in ("text/plain", "application/vnd.ms-excel") and by_ext in TEXT_TYPES):
        raise _refuse("content_type", _("was declared as %(declared)s but the file is %(actual)s",
                                        declared=declared[:80], actual=by_ext))
    if by_ext.startswith((OOXML, ODF)):
        check_zip(data, zip_limits)
    return CheckedFile(name, by_ext, len(data), hashlib.sha256(data).hexdigest(), data)
