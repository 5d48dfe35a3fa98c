"""Translations (gettext catalogs managed with Babel) and locale-aware formatting.

The current locale lives in a context variable that the web layer sets per request; the CLI
and services use the default. Catalogs are the ``.po`` files under ``dho/locale``, compiled in
memory at first use, so there is no build step to forget."""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("en", "fr")
RTL = {"ar", "fa", "he", "ur"}
DEFAULT = "en"

_current: ContextVar[str] = ContextVar("dho_locale", default=DEFAULT)


@lru_cache(maxsize=16)
def translations(locale: str) -> NullTranslations:
    po_path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.is_file():
        return NullTranslations()
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def set_locale(locale: str) -> object:
    return _current.set(locale if locale in LOCALES else DEFAULT)


def reset_locale(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def get_locale() -> str:
    return _current.get()


def gettext(message: str, **variables: object) -> str:
    text = translations(get_locale()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    text = translations(get_locale()).ngettext(singular, plural, n)
    variables.setdefault("num", n)
    return text % variables


_ = gettext


def direction(locale: str | None = None) -> str:
    return "rtl" if (locale or get_locale()) in RTL else "ltr"


def negotiate(accept_language: str | None) -> str | None:
    """Pick our best locale from an Accept-Language header."""
    if not accept_language:
        return None
    prefs = []
    for part in accept_language.split(",")[:20]:
        piece = part.strip().split(";")
        tag = piece[0].strip().lower()
        q = 1.0
        for param in piece[1:]:
            if param.strip().startswith("q="):
                try:
                    q = float(param.strip()[2:])
                except ValueError:
                    q = 0.0
        prefs.append((q, tag))
    for _q, tag in sorted(prefs, key=lambda p: -p[0]):
        base = tag.split("-")[0]
        if base in LOCALES:
            return base
    return None


def language_name(locale: str) -> str:
    return Locale.parse(locale).get_display_name(locale).capitalize()


def fmt_date(value: object, fmt: str = "medium") -> str:
    if value is None:
        return ""
    return format_date(value, format=fmt, locale=get_locale())  # type: ignore[arg-type]


def fmt_datetime(value: object, fmt: str = "medium") -> str:
    """Short form is ISO-like (2026-11-23 14:05 UTC) in every language: unambiguous in tables."""
    if value is None:
        return ""
    if fmt == "short":
        fmt = "yyyy-MM-dd HH:mm"
    return format_datetime(value, format=fmt, tzinfo="UTC", locale=get_locale()) + " UTC"  # type: ignore[arg-type]


def fmt_score(value: object) -> str:
    """A score with two decimals in the user's language (3.31 / 3,31)."""
    if value is None:
        return ""
    return format_decimal(float(value), format="0.00", locale=get_locale())  # type: ignore[arg-type]


SIZE_UNITS = {"fr": ("o", "ko", "Mo")}  # French writes octets


def fmt_size(n: int | None) -> str:
    """A file size in bytes, kB or MB (decimal units), in the user's language."""
    if n is None:
        return ""
    locale = get_locale()
    b, kb, mb = SIZE_UNITS.get(locale, ("B", "kB", "MB"))
    if n < 1000:
        return format_decimal(n, locale=locale) + "\u00a0" + b
    if n < 1_000_000:
        return format_decimal(n / 1000, format="#,##0.#", locale=locale) + "\u00a0" + kb
    return format_decimal(n / 1_000_000, format="#,##0.#", locale=locale) + "\u00a0" + mb


def fmt_number(value: object) -> str:
    if value is None:
        return ""
    return format_decimal(value, locale=get_locale())  # type: ignore[arg-type]
