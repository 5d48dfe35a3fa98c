"""The GDHM layout as an XLSX workbook, read and written with openpyxl.

An XLSX file is a zip archive of XML parts, and one sent by a stranger can be made to hurt the
reader: a zip bomb (a small file that unpacks to gigabytes), sizes in the archive directory that
lie, member names like ``../x``, encrypted members, XML entity tricks, a row of millions of cells.
So before openpyxl sees the bytes, :func:`check_archive` inspects the archive with ``zipfile``,
then unpacks every member in bounded chunks (counting the bytes really produced, not the declared
sizes) and scans each XML part with expat, refusing document type declarations and over-wide rows.
openpyxl itself parses XML through defusedxml. Only then is the workbook opened, read-only, and at
most ``max_rows`` rows and ``MAX_COLUMNS`` columns of one sheet are read.

Cells become the text the CSV parser would see (``3.0`` -> ``"3"``, empty -> ``""``), so both
formats share one validation; a date or time becomes a :class:`DateCell`, which that validation
refuses where a number is expected.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from xml.parsers import expat

from dho import ziparchive
from dho.errors import ErrorReport, ValidationFailed
from dho.i18n import _

SHEET = "GDHM"
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

MAX_MEMBERS = 1_000  # a workbook has a dozen parts, a few more per sheet
MAX_UNPACKED = 50_000_000  # bytes, all members together
MAX_RATIO = 100  # uncompressed : compressed, for members larger than RATIO_FROM
RATIO_FROM = 1_000_000
MAX_CELLS_PER_ROW = 16_384  # the most an XLSX row can have (column XFD)
MAX_COLUMNS = 500  # read; the GDHM layout has 2 + 2 per indicator

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # compound file: .xls, or an encrypted .xlsx
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class DateCell(str):
    """A cell holding a date, time or duration, as ISO text. Accepted as text; the GDHM validation
    refuses it where a number is expected, with a message that says it is a date."""


# ---------------------------------------------------------------- reading


def read_table(data: bytes, max_rows: int = 50_000) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank rows ``(row number, cells)`` of the workbook's GDHM sheet (the
    sheet named GDHM, else the first one). Rows are numbered as in the spreadsheet; at most
    ``max_rows + 1`` data rows are read, so a caller can tell that there were too many."""
    check_archive(data)
    from defusedxml.common import DefusedXmlException
    from openpyxl import DEFUSEDXML, load_workbook

    if not DEFUSEDXML:  # openpyxl falls back to the standard library's XML parser without it
        raise RuntimeError("defusedxml is not available to openpyxl; refusing to read untrusted workbooks")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about unsupported extensions, styles etc.
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True, keep_links=False)
            try:
                return _read_sheet(_pick_sheet(wb), max_rows)
            finally:
                wb.close()
    except ValidationFailed:
        raise
    except DefusedXmlException:
        raise ValidationFailed(_("The workbook contains XML entity declarations, which are refused.")) from None
    except Exception as exc:  # anything openpyxl, zipfile or the XML parser raise on a malformed workbook
        raise ValidationFailed(_("The file could not be read as an XLSX workbook (%(reason)s).",
                                 reason=ziparchive.reason(exc))) from None


def _pick_sheet(wb: Any) -> Any:
    sheets = wb.worksheets
    if not sheets:
        raise ValidationFailed(_("The workbook has no worksheet."))
    for ws in sheets:
        if str(ws.title).strip().casefold() == SHEET.casefold():
            return ws
    return sheets[0]


def _read_sheet(ws: Any, max_rows: int) -> tuple[list[str], list[tuple[int, list[str]]]]:
    from openpyxl.utils import get_column_letter

    report = ErrorReport()
    rows = ws.iter_rows(min_row=1, max_row=max_rows + 2, min_col=1, max_col=MAX_COLUMNS + 1, values_only=True)
    first = next(rows, None)
    header = _trimmed([_text(v) for v in first or ()])
    if not header:
        raise ValidationFailed(_("The sheet %(name)s is empty: its first row must hold the column names.",
                                 name=str(ws.title)[:40]))
    if len(header) > MAX_COLUMNS:
        raise ValidationFailed(_("The sheet has more than %(n)s columns.", n=MAX_COLUMNS))
    records: list[tuple[int, list[str]]] = []
    for n, cells in enumerate(rows, start=2):
        values = _trimmed([_text(v) for v in cells])
        if not any(v.strip() for v in values):
            continue
        for i, v in enumerate(values):
            bad = CONTROL.search(v)
            if bad:
                report.add(_("row %(n)s", n=n) + f", column {get_column_letter(i + 1)}",
                           _("contains a control character (U+%(code)s)", code=f"{ord(bad.group()):04X}"))
        records.append((n, values + [""] * (len(header) - len(values))))
    for i, v in enumerate(header):
        if CONTROL.search(v):
            report.add(f"column {get_column_letter(i + 1)}", _("contains a control character"))
    report.raise_if_any(_("Some cells are not valid; nothing was imported."))
    return header, records


def _trimmed(values: list[str]) -> list[str]:
    end = len(values)
    while end and not values[end - 1].strip():
        end -= 1
    return values[:end]


def _text(value: Any) -> str:
    """A cell as the CSV parser would see it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0):
            return DateCell(value.date().isoformat())
        return DateCell(value.isoformat(sep=" "))
    if isinstance(value, date | time):
        return DateCell(value.isoformat())
    if isinstance(value, timedelta):
        return DateCell(str(value))
    return str(value)


# ---------------------------------------------------------------- the archive


def check_archive(data: bytes) -> None:
    """Refuse anything that is not a plain, modest XLSX archive, before any XML is parsed by openpyxl."""
    if not data:
        raise ValidationFailed(_("The file is empty."))
    if data.startswith(OLE_MAGIC):
        raise ValidationFailed(_("The file is a password-protected workbook or an old .xls file; save it as an "
                                 "XLSX workbook without a password."))
    if not data.startswith(b"PK\x03\x04"):
        if _looks_like_text(data):
            raise ValidationFailed(_("The file is text, not an XLSX workbook; import a CSV file with the "
                                     "gdhm-csv format."))
        raise ValidationFailed(_("The file is not an XLSX workbook (an XLSX file is a zip archive)."))
    limits = ziparchive.Limits(MAX_MEMBERS, MAX_UNPACKED, MAX_RATIO, RATIO_FROM)
    with ziparchive.open_zip(data) as archive:
        if "[Content_Types].xml" not in ziparchive.check_directory(archive.infolist(), limits):
            raise ValidationFailed(_("The zip archive is not an XLSX workbook (it has no [Content_Types].xml)."))
        ziparchive.unpack_bounded(archive, archive.infolist(), limits, _XmlScan)


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a character cut at the end of the sample
    return True


class _XmlScan:
    """A streaming look at one member: no document type declarations (so no entity tricks), and no
    row with more cells than XLSX allows. Keeps no tree, only a counter. A member that is not XML
    stops being scanned at its first error (openpyxl reports it if it matters)."""

    def __init__(self, name: str):
        self.name = name
        self.parser: Any = expat.ParserCreate(namespace_separator=" ")
        self.parser.StartElementHandler = self._start
        self.parser.StartDoctypeDeclHandler = self._doctype
        self.parser.EntityDeclHandler = self._doctype
        self.cells = 0
        self.done = False

    def _start(self, name: str, _attrs: Any) -> None:
        local = name.rsplit(" ", 1)[-1]
        if local == "row":
            self.cells = 0
        elif local == "c":
            self.cells += 1
            if self.cells > MAX_CELLS_PER_ROW:
                raise ValidationFailed(_("A row of the workbook has more than %(n)s cells; it is refused.",
                                         n=MAX_CELLS_PER_ROW))

    def _doctype(self, *_args: Any) -> None:
        raise ValidationFailed(_("The workbook part %(name)s declares a document type or entities, which "
                                 "workbooks never do; it is refused.", name=self.name[:80]))

    def feed(self, chunk: bytes, final: bool = False) -> None:
        if self.done:
            return
        try:
            self.parser.Parse(chunk, final)
        except expat.ExpatError:
            self.done = True  # not XML, or malformed: nothing more to scan here

    def close(self) -> None:
        self.feed(b"", True)


# ---------------------------------------------------------------- writing


def write_table(header: Sequence[str], rows: Iterable[Sequence[Any]], when: datetime | None = None) -> bytes:
    """The GDHM layout as a workbook with one sheet named GDHM: the header bold and frozen (with the
    country and year columns), widths that fit the column names, numbers as numbers and every text
    as text (a rationale that starts with ``=`` stays text, never a formula). The same table and
    ``when`` give the same bytes."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.writer.excel import ExcelWriter

    when = (when or datetime.now(UTC)).replace(microsecond=0, tzinfo=None)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET)
    for i, name in enumerate(header, start=1):
        ws.column_dimensions[get_column_letter(i)].width = _width(name)
    ws.freeze_panes = "C2" if len(header) > 2 else "A2"
    bold = Font(bold=True)

    def cell(value: Any, font: Font | None = None) -> Any:
        if value is None or value == "":
            return None
        c = WriteOnlyCell(ws)
        if isinstance(value, int | float) and not isinstance(value, bool):
            c.value = value
        else:
            c.value = _clean(str(value))
            c.data_type = "s"  # never a formula, whatever the text starts with
        if font is not None:
            c.font = font
        return c

    ws.append([cell(name, bold) for name in header])
    for row in rows:
        ws.append([cell(v) for v in row])
    wb.properties.creator = "Digital Health Observatory"
    wb.properties.title = "GDHM maturity assessments"
    wb.properties.created = wb.properties.modified = when
    buf = io.BytesIO()
    ExcelWriter(wb, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED)).save()  # wb.save() would date it now
    return _repack(buf.getvalue(), when)


def _width(name: str) -> float:
    if name.startswith("Enter Indicator"):
        return 48
    if name == "Year":
        return 8
    return max(12, len(name) + 2)


def _clean(text: str) -> str:
    """XLSX cannot hold control characters other than tab and line breaks."""
    return CONTROL.sub("\ufffd", text)[:32_767]


def _repack(data: bytes, when: datetime) -> bytes:
    """The same archive with every member dated ``when``, so that the output depends only on the data."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            member = zipfile.ZipInfo(info.filename, date_time=stamp)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o600 << 16
            dst.writestr(member, src.read(info))
    return out.getvalue()
