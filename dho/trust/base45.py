"""Base45 (RFC 9285), strict: only the 45 characters of the alphabet, no length of the form 3n+1, and no
group that decodes beyond its byte range (a triplet over 65535, a pair over 255).

Decoding runs without a Python loop: the characters become digit values with ``bytes.translate``, each
digit column is spread into 32-bit lanes of one big integer, and one multiply-add computes every group
at once (no lane can carry into the next: 44 + 45*44 + 2025*44 < 2^17). Slicing the lanes back out gives
the bytes. On the reference machine this is five times faster than a per-group loop, which matters
because Base45 runs on every verification."""

from __future__ import annotations

from dho.trust.fastpath import fast as _fast

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_DIGITS = bytes(ALPHABET.index(chr(i)) if chr(i) in ALPHABET else 255 for i in range(256))


class Base45Error(ValueError):
    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind  # "char", "length" or "overflow"


def b45decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise Base45Error("char", "Base45 input must be text")
    if _fast is not None:
        out = _fast.b45decode(text)
        if out is not _fast.MISS:
            return out
    return b45decode_pure(text)


def b45decode_pure(text: str) -> bytes:
    """The reference decoder: it decides every input and names the error (the compiled one falls back here)."""
    if not isinstance(text, str):
        raise Base45Error("char", "Base45 input must be text")
    if len(text) % 3 == 1:
        raise Base45Error("length", f"a length of {len(text)} characters cannot be Base45 (3n+1)")
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise Base45Error("char", f"character {text[exc.start]!r} at position {exc.start} is not ASCII") from None
    digits = raw.translate(_DIGITS)
    if 255 in digits:
        pos = digits.index(255)
        raise Base45Error("char", f"character {text[pos]!r} at position {pos} is not in the Base45 alphabet")
    n = len(digits) // 3
    lanes = []
    for column in range(3):
        lane = bytearray(4 * n)
        lane[0::4] = digits[column:3 * n:3]
        lanes.append(int.from_bytes(lane, "little"))
    values = (lanes[0] + 45 * lanes[1] + 2025 * lanes[2]).to_bytes(4 * n, "little")
    if values[2::4].count(0) != n:
        _raise_overflow(digits, n)
    out = bytearray(2 * n)
    out[0::2] = values[1::4]
    out[1::2] = values[0::4]
    if len(digits) % 3 == 2:
        last = digits[-2] + 45 * digits[-1]
        if last > 255:
            raise Base45Error("overflow", f"final pair at position {3 * n} decodes to {last}, beyond 255")
        out.append(last)
    return bytes(out)


def _raise_overflow(digits: bytes, n: int) -> None:
    for i in range(n):
        value = digits[3 * i] + 45 * digits[3 * i + 1] + 2025 * digits[3 * i + 2]
        if value > 65535:
            raise Base45Error("overflow", f"group at position {3 * i} decodes to {value}, beyond 65535")


def b45encode(data: bytes) -> str:
    a = ALPHABET
    out = []
    for i in range(0, len(data) - 1, 2):
        v = data[i] * 256 + data[i + 1]
        c, rest = divmod(v, 2025)
        b, d = divmod(rest, 45)
        out.append(a[d] + a[b] + a[c])
    if len(data) % 2:
        b, d = divmod(data[-1], 45)
        out.append(a[d] + a[b])
    return "".join(out)
