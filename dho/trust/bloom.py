"""A Bloom filter for revocation lookups by offline verifiers, bit-compatible with the EU DCC
revocation bloom filter (``dgc-bloomfilter`` cross-platform test data).

The scheme, worked out from that test data (``docs/trust-revocation.md`` says how):

* size: ``m = ceil(-n * ln(p) / ln(2)**2)`` bits for ``n`` entries and a false-positive target ``p``;
  ``k = max(1, round(m / n * ln 2))`` hash functions (either may be given explicitly instead);
* bit ``i`` of the ``k`` bits of an item ``x`` (``i = 0 .. k-1``): SHA-256 over ``x`` followed by the
  single byte ``i``; the 32-byte digest read as a *signed* big-endian integer (two's complement),
  reduced modulo ``m`` to a non-negative index;
* bit layout: index ``b`` is bit ``7 - b % 8`` (most significant first) of byte ``b // 8`` — the same as
  most-significant-first bits in big-endian 32-bit words.

Plain Python ints and a ``bytearray``: no extra dependency. The cost of a lookup is up to ``k`` SHA-256
computations (it stops at the first clear bit); ``bench/trust_revocation.py`` measures it.

The serialised form (``to_bytes``/``from_bytes``) is ours, not the EU gateway's binary layout (the test
data does not pin that down): a fixed header, the bit array, and a CRC-32 so a verifier notices a
truncated or damaged download (it is not a signature: the file's authenticity is checked elsewhere).
"""

from __future__ import annotations

import hashlib
import math
import struct
import zlib
from collections.abc import Iterable

MAGIC = b"DHOB"
FORMAT_VERSION = 1
SCHEME_EU_SHA256 = 1  # the only hashing scheme: SHA-256(item || byte(i)), signed, mod m
# magic, format version, scheme, k, m (bits), entries added, target false-positive probability
_HEADER = struct.Struct(">4sBBHQQd")
_CRC = struct.Struct(">I")
MAX_K = 255  # the hash number is one byte in the scheme
DEFAULT_MAX_BYTES = 256 * 1024 * 1024  # refuse to load bigger filters unless the caller raises this
_INDEX_BYTES = [bytes([i]) for i in range(MAX_K + 1)]


class BloomFormatError(ValueError):
    """A serialised filter that cannot be loaded (bad header, wrong size, damaged, too big)."""


def optimal_bits(n: int, p: float) -> int:
    """Bits for ``n`` entries at false-positive probability ``p``: ``ceil(-n ln p / ln² 2)``."""
    if n < 1:
        raise ValueError("a filter needs a capacity of at least one entry")
    if not 0.0 < p < 1.0:
        raise ValueError("the false-positive probability must be strictly between 0 and 1")
    return max(1, math.ceil(-n * math.log(p) / (math.log(2) ** 2)))


def optimal_hashes(m: int, n: int) -> int:
    """Hash functions for ``m`` bits and ``n`` entries: ``m / n * ln 2`` rounded half up, at least 1."""
    return min(MAX_K, max(1, math.floor(m / n * math.log(2) + 0.5)))


class BloomFilter:
    """A fixed-size Bloom filter over byte strings. ``might_contain`` has no false negatives."""

    __slots__ = ("_bits", "count", "k", "m", "p")

    def __init__(self, m: int, k: int, *, p: float = 0.0, bits: bytes | bytearray | None = None, count: int = 0):
        if not isinstance(m, int) or m < 1:
            raise ValueError("m (bits) must be a positive integer")
        if not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise ValueError(f"k (hash functions) must be an integer from 1 to {MAX_K}")
        size = (m + 7) // 8
        if bits is None:
            self._bits = bytearray(size)
        else:
            if len(bits) != size:
                raise ValueError(f"{m} bits need {size} bytes, got {len(bits)}")
            self._bits = bytearray(bits)
            if m % 8 and self._bits[-1] & (0xFF >> (m % 8)):
                raise ValueError("padding bits after the last bit are set")
        self.m = m
        self.k = k
        self.p = float(p)
        self.count = count

    @classmethod
    def for_capacity(cls, n: int, p: float, *, k: int | None = None) -> BloomFilter:
        """An empty filter sized for ``n`` entries at false-positive probability ``p`` (``k`` optional)."""
        m = optimal_bits(n, p)
        return cls(m, k if k is not None else optimal_hashes(m, n), p=p)

    # ------------------------------------------------------------------ hashing and lookups

    def indexes(self, item: bytes) -> list[int]:
        """The ``k`` bit indexes of ``item`` (with repeats, in hash order)."""
        base = hashlib.sha256(item)
        out = []
        for i in range(self.k):
            h = base.copy()
            h.update(_INDEX_BYTES[i])
            out.append(int.from_bytes(h.digest(), "big", signed=True) % self.m)
        return out

    def add(self, item: bytes) -> None:
        bits = self._bits
        for b in self.indexes(item):
            bits[b >> 3] |= 0x80 >> (b & 7)
        self.count += 1

    def update(self, items: Iterable[bytes]) -> None:
        for item in items:
            self.add(item)

    def might_contain(self, item: bytes) -> bool:
        """False: certainly never added. True: added, or a false positive."""
        bits, m = self._bits, self.m
        base = hashlib.sha256(item)
        for i in range(self.k):
            h = base.copy()
            h.update(_INDEX_BYTES[i])
            b = int.from_bytes(h.digest(), "big", signed=True) % m
            if not bits[b >> 3] & (0x80 >> (b & 7)):
                return False
        return True

    __contains__ = might_contain

    # ------------------------------------------------------------------ figures

    @property
    def size_bytes(self) -> int:
        """Bytes of the bit array (the serialised form adds a 32-byte header and 4-byte checksum)."""
        return len(self._bits)

    def bits_set(self) -> int:
        return sum(x.bit_count() for x in self._bits)

    def estimated_fp_rate(self) -> float:
        """The false-positive probability implied by the bits actually set: ``(set / m) ** k``."""
        return (self.bits_set() / self.m) ** self.k

    # ------------------------------------------------------------------ the EU test-data layouts

    def to_bit_list(self) -> list[int]:
        """One 0/1 per bit (the layout of ``testcase1.json``)."""
        return [(self._bits[b >> 3] >> (7 - (b & 7))) & 1 for b in range(self.m)]

    @classmethod
    def from_bit_list(cls, bits: list[int], k: int) -> BloomFilter:
        if not bits or any(b not in (0, 1) for b in bits):
            raise ValueError("a bit list holds at least one bit, each 0 or 1")
        f = cls(len(bits), k)
        for i, b in enumerate(bits):
            if b:
                f._bits[i >> 3] |= 0x80 >> (i & 7)
        return f

    def to_int32_words(self) -> list[int]:
        """Signed big-endian 32-bit words (the layout of ``filter-test.json``, Java ``int[]``)."""
        data = bytes(self._bits) + bytes(-len(self._bits) % 4)
        return [int.from_bytes(data[i:i + 4], "big", signed=True) for i in range(0, len(data), 4)]

    @classmethod
    def from_int32_words(cls, words: list[int], k: int, m: int | None = None) -> BloomFilter:
        """From signed 32-bit words; ``m`` defaults to every bit of every word."""
        if not words or any(not isinstance(w, int) or not -(2**31) <= w < 2**31 for w in words):
            raise ValueError("words must be a non-empty list of signed 32-bit integers")
        data = b"".join(w.to_bytes(4, "big", signed=True) for w in words)
        m = 32 * len(words) if m is None else m
        if not 32 * (len(words) - 1) < m <= 32 * len(words):
            raise ValueError("m does not fit the number of words")
        return cls(m, k, bits=data[:(m + 7) // 8])

    # ------------------------------------------------------------------ our serialised form

    def to_bytes(self) -> bytes:
        body = _HEADER.pack(MAGIC, FORMAT_VERSION, SCHEME_EU_SHA256, self.k, self.m, self.count, self.p)
        body += bytes(self._bits)
        return body + _CRC.pack(zlib.crc32(body))

    @classmethod
    def from_bytes(cls, data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> BloomFilter:
        """Load a serialised filter, checking everything before allocating; raises ``BloomFormatError``."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise BloomFormatError("a serialised filter is bytes")
        data = bytes(data)
        if len(data) > max_bytes + _HEADER.size + _CRC.size:
            raise BloomFormatError(f"filter of {len(data)} bytes is over the limit of {max_bytes} bytes")
        if len(data) < _HEADER.size + 1 + _CRC.size:
            raise BloomFormatError("too short to be a filter")
        magic, version, scheme, k, m, count, p = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise BloomFormatError("not a filter (wrong magic bytes)")
        if version != FORMAT_VERSION:
            raise BloomFormatError(f"unsupported filter format version {version}")
        if scheme != SCHEME_EU_SHA256:
            raise BloomFormatError(f"unknown hashing scheme {scheme}")
        if not 1 <= k <= MAX_K or m < 1:
            raise BloomFormatError(f"impossible parameters k={k} m={m}")
        size = (m + 7) // 8
        if size > max_bytes:
            raise BloomFormatError(f"filter of {size} bytes is over the limit of {max_bytes} bytes")
        if len(data) != _HEADER.size + size + _CRC.size:
            have = len(data) - _HEADER.size - _CRC.size
            raise BloomFormatError(f"{m} bits need {size} bytes of data, the file has {have}")
        (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
        if zlib.crc32(data[:-_CRC.size]) != crc:
            raise BloomFormatError("checksum mismatch: the filter is damaged or truncated")
        if not (0.0 <= p < 1.0):  # NaN fails this too
            raise BloomFormatError("impossible false-positive target in the header")
        try:
            return cls(m, k, p=p, bits=data[_HEADER.size:-_CRC.size], count=count)
        except ValueError as exc:
            raise BloomFormatError(str(exc)) from exc

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BloomFilter):
            return NotImplemented
        return (self.m, self.k, self._bits) == (other.m, other.k, other._bits)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"BloomFilter(m={self.m}, k={self.k}, count={self.count}, bytes={self.size_bytes})"
