"""Checking that a web address still answers, without letting the check reach inside our network.

A check resolves the host itself, refuses private, loopback, link-local and other non-public
addresses (unless allowed, for an intranet or for tests), connects to the address it checked (so a
second DNS answer cannot redirect it), sends HEAD (GET when HEAD is not allowed, reading at most a
few bytes), and follows at most five redirects, each checked the same way."""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from dho.errors import FieldError, ValidationFailed
from dho.i18n import _

MAX_REDIRECTS = 5
USER_AGENT = "DigitalHealthObservatory-linkcheck/1"


@dataclass(frozen=True)
class LinkResult:
    ok: bool
    status: str  # an HTTP status code, or a short reason: "timeout", "DNS failure", ...
    checked_at: dt.datetime
    final_url: str


class _Refused(Exception):
    pass


def _public(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    return addr.is_global and not addr.is_multicast


def _resolve(host: str, port: int, allow_private: bool) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise _Refused("DNS failure") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise _Refused("DNS failure")
    if not allow_private and not all(_public(a) for a in addresses):
        raise _Refused("refused: not a public address")
    return addresses[0]


def _request(url: str, method: str, timeout: float, allow_private: bool) -> tuple[int, str | None]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Refused("not an http(s) address")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    ip = _resolve(parts.hostname, port, allow_private)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, port, timeout=timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    conn._create_connection = lambda _addr, *args, **kw: socket.create_connection((ip, port), *args, **kw)  # type: ignore[attr-defined]
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        conn.request(method, path, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
        resp = conn.getresponse()
        if method == "GET":
            resp.read(1024)
        return resp.status, resp.getheader("Location")
    finally:
        conn.close()


def check(url: str, *, allow_private: bool = False, timeout: float = 10.0) -> LinkResult:
    now = dt.datetime.now(dt.UTC)
    current = url
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            status, location = _request(current, "HEAD", timeout, allow_private)
            if status in (405, 501):
                status, location = _request(current, "GET", timeout, allow_private)
            if status in (301, 302, 303, 307, 308) and location:
                current = urljoin(current, location)
                continue
            return LinkResult(200 <= status < 300, str(status), now, current)
        return LinkResult(False, "too many redirects", now, current)
    except _Refused as exc:
        return LinkResult(False, str(exc), now, current)
    except TimeoutError:
        return LinkResult(False, "timeout", now, current)
    except ssl.SSLError:
        return LinkResult(False, "TLS error", now, current)
    except (OSError, http.client.HTTPException, ValueError):
        return LinkResult(False, "connection failed", now, current)


def validate_url(url: str, field: str = "url", max_length: int = 2000) -> str:
    """An absolute http(s) address without credentials, or a clear refusal."""
    url = (url or "").strip()
    if not url:
        raise ValidationFailed(_("The web address is not valid; nothing was saved."),
                               errors=[FieldError(field, _("is required"))])
    problem = None
    if len(url) > max_length:
        problem = _("is too long (at most %(n)s characters)", n=max_length)
    elif any(ch.isspace() or ord(ch) < 32 for ch in url):
        problem = _("must not contain spaces or control characters")
    else:
        try:
            parts = urlsplit(url)
            host = parts.hostname
            _port = parts.port
        except ValueError:
            parts, host = None, None
        if parts is None or parts.scheme not in ("http", "https") or not host:
            problem = _("must be a full web address starting with https:// or http://")
        elif parts.username or parts.password:
            problem = _("must not contain a user name or password")
    if problem:
        raise ValidationFailed(_("The web address is not valid; nothing was saved."),
                               errors=[FieldError(field, problem)])
    return url
