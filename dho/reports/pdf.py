"""PDF rendering of a report's HTML with WeasyPrint.

The PDF's creation and modification dates come from the report's data cut-off (the
``dcterms.created``/``dcterms.modified`` meta tags of the document), never from the clock, so the same
report gives the same text and the same metadata. Fonts are the system's (DejaVu)."""

from __future__ import annotations

import logging


def render_pdf(html: str) -> bytes:
    """The PDF bytes of a report document."""
    from weasyprint import HTML

    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)  # font subsetting notes are not errors
    return HTML(string=html, base_url=None).write_pdf()
