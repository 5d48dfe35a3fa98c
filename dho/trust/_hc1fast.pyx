# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Compiled fast paths of HCERT decoding: Base45 and the common subset of strict CBOR.

Both functions answer only when they are sure: for any input outside what they handle (a character
outside the alphabet, an impossible length, a CBOR tag, an indefinite length, a duplicate map key,
invalid UTF-8, deep nesting, trailing bytes ...) they return ``MISS`` and the caller runs the general
pure-Python path (``dho.trust.base45``, ``dho.trust.cose.loads_strict``), which decides and names the
error. So the verdicts and error codes are the general path's; this module only makes the common case
fast. tests/trust/test_hc1fast.py checks that both paths agree on valid, mutated and random inputs."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Contains, PyDict_SetItem
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint64_t


cdef extern from "Python.h":
    double PyFloat_Unpack2(const char *p, int le) except? -1.0
    double PyFloat_Unpack4(const char *p, int le) except? -1.0
    double PyFloat_Unpack8(const char *p, int le) except? -1.0


MISS = object()  # "not sure: ask the general path"
cdef object _MISS = MISS

cdef unsigned char _DIGITS[256]
cdef int _i
for _i in range(256):
    _DIGITS[_i] = 255
for _i, _c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"):
    _DIGITS[ord(_c)] = _i


def b45decode(str text):
    """The bytes of a Base45 text (RFC 9285, strict), or MISS when the text is not valid Base45."""
    if not text.isascii():
        return _MISS
    cdef bytes raw = text.encode("ascii")
    cdef Py_ssize_t n = PyBytes_GET_SIZE(raw)
    if n % 3 == 1:
        return _MISS
    cdef Py_ssize_t groups = n // 3
    cdef Py_ssize_t size = 2 * groups + (1 if n % 3 == 2 else 0)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, size)
    cdef const unsigned char *src = <const unsigned char *> PyBytes_AS_STRING(raw)
    cdef unsigned char *dst = <unsigned char *> PyBytes_AS_STRING(out)
    cdef Py_ssize_t i
    cdef unsigned int a, b, c, v
    for i in range(groups):
        a = _DIGITS[src[3 * i]]
        b = _DIGITS[src[3 * i + 1]]
        c = _DIGITS[src[3 * i + 2]]
        if a == 255 or b == 255 or c == 255:
            return _MISS
        v = a + 45 * b + 2025 * c
        if v > 65535:
            return _MISS
        dst[2 * i] = v >> 8
        dst[2 * i + 1] = v & 255
    if n % 3 == 2:
        a = _DIGITS[src[n - 2]]
        b = _DIGITS[src[n - 1]]
        if a == 255 or b == 255:
            return _MISS
        v = a + 45 * b
        if v > 255:
            return _MISS
        dst[size - 1] = v
    return out


cdef class _Reader:
    cdef const unsigned char *buf
    cdef Py_ssize_t pos, end
    cdef int max_depth


cdef int _length(_Reader r, unsigned char info, uint64_t *out):
    """The argument of a head (RFC 8949 3.1); 0 when read, -1 when not handled (reserved, indefinite,
    truncated)."""
    cdef int k, size
    if info < 24:
        out[0] = info
        return 0
    if info > 27:
        return -1
    size = 1 << (info - 24)
    if r.end - r.pos < size:
        return -1
    cdef uint64_t v = 0
    for k in range(size):
        v = (v << 8) | r.buf[r.pos + k]
    r.pos += size
    out[0] = v
    return 0


cdef object _item(_Reader r, int depth):
    """One CBOR item of the handled subset, or _MISS."""
    cdef unsigned char head, major, info
    cdef uint64_t n
    cdef Py_ssize_t i, count
    cdef object key, value, container
    cdef double d
    if r.pos >= r.end:
        return _MISS
    head = r.buf[r.pos]
    r.pos += 1
    major = head >> 5
    info = head & 31
    if major == 7:
        if info == 20:
            return False
        if info == 21:
            return True
        if info == 22:
            return None
        if info == 25 and r.end - r.pos >= 2:
            d = PyFloat_Unpack2(<const char *> (r.buf + r.pos), 0)
            r.pos += 2
            return d
        if info == 26 and r.end - r.pos >= 4:
            d = PyFloat_Unpack4(<const char *> (r.buf + r.pos), 0)
            r.pos += 4
            return d
        if info == 27 and r.end - r.pos >= 8:
            d = PyFloat_Unpack8(<const char *> (r.buf + r.pos), 0)
            r.pos += 8
            return d
        return _MISS  # undefined, other simple values, break: the general path decides
    if major == 6:
        return _MISS  # tags
    if _length(r, info, &n) < 0:
        return _MISS
    if major == 0:
        return n
    if major == 1:
        return -1 - <object> n
    if major == 2 or major == 3:
        if <uint64_t> (r.end - r.pos) < n:
            return _MISS
        i = r.pos
        r.pos += <Py_ssize_t> n
        if major == 2:
            return PyBytes_FromStringAndSize(<const char *> (r.buf + i), <Py_ssize_t> n)
        try:
            return PyUnicode_DecodeUTF8(<const char *> (r.buf + i), <Py_ssize_t> n, "strict")
        except UnicodeDecodeError:
            return _MISS
    if depth >= r.max_depth:
        return _MISS
    if n > <uint64_t> (r.end - r.pos):  # every element takes at least one byte
        return _MISS
    count = <Py_ssize_t> n
    if major == 4:
        container = PyList_New(count)
        for i in range(count):
            value = _item(r, depth + 1)
            if value is _MISS:
                return _MISS  # the unfilled slots are NULL, which freeing the list allows
            Py_INCREF(value)
            PyList_SET_ITEM(container, i, value)
        return container
    container = {}
    for i in range(count):
        key = _item(r, depth + 1)
        if key is _MISS or not (type(key) is int or type(key) is str or type(key) is bytes):
            return _MISS
        value = _item(r, depth + 1)
        if value is _MISS or PyDict_Contains(container, key):
            return _MISS
        PyDict_SetItem(container, key, value)
    return container


def cbor_loads(bytes data, int max_depth):
    """One CBOR item filling ``data`` exactly, or MISS. Handled: integers, byte and text strings, arrays
    and maps of definite length (map keys integers or strings, no duplicates), false, true, null and
    floats, nested at most ``max_depth - 2`` containers deep."""
    cdef _Reader r = _Reader()
    r.buf = <const unsigned char *> PyBytes_AS_STRING(data)
    r.pos = 0
    r.end = PyBytes_GET_SIZE(data)
    r.max_depth = max_depth - 2
    value = _item(r, 0)
    if value is _MISS or r.pos != r.end:
        return _MISS
    return value


cdef bint _plain(object value, int depth):
    cdef object k, v
    cdef double d
    if value is None or value is True or value is False:
        return True
    t = type(value)
    if t is str or t is int:
        return True
    if t is float:
        d = value
        return d - d == 0.0  # finite (NaN and infinities give NaN)
    if depth > 32:
        return False
    if t is list:
        for v in <list> value:
            if not _plain(v, depth + 1):
                return False
        return True
    if t is dict:
        for k, v in (<dict> value).items():
            if type(k) is not str or not _plain(v, depth + 1):
                return False
        return True
    return False


def json_plain(value):
    """True when ``value`` is plain JSON data (dicts with text keys, lists, text, integers, booleans, null,
    finite floats), so that JSON can carry it unchanged; False when unsure."""
    return _plain(value, 0)
