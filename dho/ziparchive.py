"""Opening a ZIP container sent by a stranger (an office document, a workbook) without being hurt
by it: a zip bomb (a small file that unpacks to gigabytes), sizes in the directory that lie,
member names like ``../x``, encrypted members, unusual compression methods.

:func:`check` reads the directory first, then unpacks every member in bounded chunks, counting the
bytes really produced rather than trusting the declared sizes (zipfile also checks each member's
CRC at its end). A caller may scan each member's bytes as they stream by (the workbook reader
looks for XML entity tricks that way)."""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from dho.errors import ValidationFailed
from dho.i18n import _

CHUNK = 1 << 16
UNSAFE_NAME = re.compile(r"(^[/\\])|(^[A-Za-z]:)|\\|(^|/)\.\.(/|$)|\x00")


@dataclass(frozen=True)
class Limits:
    max_members: int = 2_000
    max_unpacked: int = 100_000_000  # bytes, all members together
    max_ratio: int = 100  # uncompressed : compressed, for members larger than ratio_from
    ratio_from: int = 1_000_000


class Scan(Protocol):
    def feed(self, chunk: bytes, final: bool = False) -> None: ...
    def close(self) -> None: ...


def reason(exc: Exception) -> str:
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # KeyError quotes it
    text = text.strip() or type(exc).__name__
    return text[:120]


def open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, OSError, EOFError) as exc:
        raise ValidationFailed(_("The file is not a valid zip archive (%(reason)s).", reason=reason(exc))) from None


def check(archive: zipfile.ZipFile, limits: Limits, scan: Callable[[str], Scan] | None = None) -> set[str]:
    """Check the directory and unpack every member within the limits; the member names."""
    members = archive.infolist()
    names = check_directory(members, limits)
    unpack_bounded(archive, members, limits, scan)
    return names


def check_directory(members: Sequence[zipfile.ZipInfo], limits: Limits) -> set[str]:
    """What the archive's directory declares: names, encryption, methods, sizes and ratios."""
    if len(members) > limits.max_members:
        raise ValidationFailed(_("The archive has more than %(n)s members; it is refused.", n=limits.max_members))
    names: set[str] = set()
    total = 0
    for info in members:
        name = info.filename
        if not name or UNSAFE_NAME.search(name):
            raise ValidationFailed(_("The archive has a member with an unsafe name (%(name)s); it is refused.",
                                     name=name[:80]))
        if name in names:
            raise ValidationFailed(_("The archive has two members named %(name)s; it is refused.", name=name[:80]))
        names.add(name)
        if info.flag_bits & 0x1:
            raise ValidationFailed(_("The archive is encrypted; save the file without a password."))
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValidationFailed(_("The archive uses a compression method that documents do not use; "
                                     "it is refused."))
        total += info.file_size
        if total > limits.max_unpacked:
            raise ValidationFailed(_("The file would unpack to more than %(n)s MB; it is refused.",
                                     n=limits.max_unpacked // 1_000_000))
        if info.file_size > limits.ratio_from and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise ValidationFailed(_("The archive member %(name)s is compressed more than %(ratio)s to 1, like a "
                                     "zip bomb; it is refused.", name=name[:80], ratio=limits.max_ratio))
    return names


def unpack_bounded(archive: zipfile.ZipFile, members: Iterable[zipfile.ZipInfo], limits: Limits,
                   scan: Callable[[str], Scan] | None = None) -> None:
    """Unpack every member in chunks, counting the bytes really produced (declared sizes can lie)."""
    budget = limits.max_unpacked
    try:
        for info in members:
            if info.is_dir():
                continue
            scanner = scan(info.filename) if scan else None
            produced = 0
            with archive.open(info) as stream:
                while chunk := stream.read(CHUNK):
                    produced += len(chunk)
                    budget -= len(chunk)
                    if produced > info.file_size or budget < 0:
                        raise ValidationFailed(_("The file unpacks to more than it declares; it is refused."))
                    if scanner:
                        scanner.feed(chunk)
            if scanner:
                scanner.close()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        raise ValidationFailed(_("The archive is damaged (%(reason)s).", reason=reason(exc))) from None
