# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Compiled fast paths of HCERT decoding: Base45, the common subset of strict CBOR, and the whole way
from an ``HC1:`` string to its COSE parts and CWT claims in one call (:func:`decode_hc1`).

Both functions answer only when they are sure: for any input outside what they handle (a character
outside the alphabet, an impossible length, a CBOR tag, an indefinite length, a duplicate map key,
invalid UTF-8, deep nesting, trailing bytes ...) they return ``MISS`` and the caller runs the general
pure-Python path (``dho.trust.base45``, ``dho.trust.cose.loads_strict``), which decides and names the
error. So the verdicts and error codes are the general path's; this module only makes the common case
fast. tests/trust/test_hc1fast.py checks that both paths agree on valid, mutated and random inputs."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_Contains, PyDict_SetItem
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint64_t
from libc.string cimport memcpy


cdef extern from "zlib.h":
    ctypedef struct z_stream:
        const unsigned char *next_in
        unsigned int avail_in
        unsigned char *next_out
        unsigned int avail_out
        void *zalloc
        void *zfree
        void *opaque
    int inflateInit(z_stream *strm)
    int inflate(z_stream *strm, int flush)
    int inflateEnd(z_stream *strm)
    int inflateReset(z_stream *strm)
    int Z_OK, Z_STREAM_END, Z_FINISH


cdef extern from "Python.h":
    object _PyDict_NewPresized(Py_ssize_t minused)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object o)
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
    cdef Py_ssize_t n = len(text)
    if n % 3 == 1:
        return _MISS
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n // 3 * 2 + n % 3 // 2)
    if _b45(<const unsigned char *> PyUnicode_DATA(text), n, <unsigned char *> PyBytes_AS_STRING(out)) < 0:
        return _MISS
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


cdef enum:
    _SHORT_SLOTS = 1024

cdef PyObject *_short[_SHORT_SLOTS]  # ASCII texts of up to 3 characters (map keys, country codes), made once
cdef unsigned int _short_id[_SHORT_SLOTS]


cdef object _short_text(const unsigned char *p, int n):
    """The text of ``n`` <= 3 ASCII bytes from a small cache (None when not ASCII): certificates repeat
    the same short keys ("v", "tg", "co" ...), so they are made and hashed once."""
    cdef unsigned int ident = (<unsigned int> n) << 24
    cdef int k
    for k in range(n):
        if p[k] >= 0x80:
            return None
        ident |= (<unsigned int> p[k]) << (8 * (2 - k))
    cdef unsigned int slot = ((ident * 2654435761u) >> 16) & (_SHORT_SLOTS - 1)
    if _short[slot] != NULL and _short_id[slot] == ident:
        return <object> _short[slot]
    text = PyUnicode_New(n, 127)
    memcpy(PyUnicode_DATA(text), p, <size_t> n)
    hash(text)
    Py_XDECREF(_short[slot])
    Py_INCREF(text)
    _short[slot] = <PyObject *> text
    _short_id[slot] = ident
    return text


cdef inline bint _is_ascii(const unsigned char *p, Py_ssize_t n):
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] >= 0x80:
            return False
    return True


cdef object _item(_Reader r, int depth):
    """One CBOR item of the handled subset, or _MISS."""
    cdef unsigned char head, major, info
    cdef uint64_t n
    cdef Py_ssize_t i, count
    cdef object key, value, container, text
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
        if n <= 3:
            text = _short_text(r.buf + i, <int> n)
            if text is not None:
                return text
        if _is_ascii(r.buf + i, <Py_ssize_t> n):  # most certificate text: no decoder needed
            text = PyUnicode_New(<Py_ssize_t> n, 127)
            memcpy(PyUnicode_DATA(text), r.buf + i, <size_t> n)
            return text
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
    container = _PyDict_NewPresized(count)
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


cdef enum:
    _INFLATE_MAX = 65536  # the decode buffer; a policy allowing more still works, through the general path


cdef Py_ssize_t _bstr_head(Py_ssize_t n, unsigned char *o):
    """Writes the CBOR head of a byte string of ``n`` bytes at ``o`` (room for 5); its length."""
    if n < 24:
        o[0] = 0x40 + n
        return 1
    if n < 256:
        o[0], o[1] = 0x58, n
        return 2
    if n < 65536:
        o[0], o[1], o[2] = 0x59, n >> 8, n & 255
        return 3
    o[0], o[1], o[2], o[3], o[4] = 0x5a, (n >> 24) & 255, (n >> 16) & 255, (n >> 8) & 255, n & 255
    return 5


cdef inline Py_ssize_t _head_len(Py_ssize_t n):
    return 1 if n < 24 else 2 if n < 256 else 3 if n < 65536 else 5


cdef bytes _sig_structure(bytes protected, bytes payload):
    """CBOR of ["Signature1", protected, h'', payload] (as ``cose.sig_structure`` writes it)."""
    cdef Py_ssize_t np = PyBytes_GET_SIZE(protected), nl = PyBytes_GET_SIZE(payload)
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 12 + _head_len(np) + np + 1 + _head_len(nl) + nl)
    cdef unsigned char *o = <unsigned char *> PyBytes_AS_STRING(out)
    cdef Py_ssize_t k = 12
    memcpy(o, b"\x84\x6aSignature1", 12)
    k += _bstr_head(np, o + k)
    memcpy(o + k, PyBytes_AS_STRING(protected), np)
    k += np
    o[k] = 0x40
    k += 1
    k += _bstr_head(nl, o + k)
    memcpy(o + k, PyBytes_AS_STRING(payload), nl)
    return out


def decode_hc1(object text, Py_ssize_t max_chars, Py_ssize_t max_inflated, int max_depth):
    """An ``HC1:`` text of the common shape, decoded in one call, or MISS.

    Returns ``(protected_bytes, protected, unprotected, payload, signature, tags, to_be_signed, claims)``:
    the parts ``hcert.parse_cose`` gives, the COSE signature structure, and the CWT claims (``MISS`` when
    the payload is outside the handled CBOR subset: the caller decodes it after the signature, as the
    general path does). Handled: a text of at most ``max_chars`` ASCII characters starting ``HC1:`` with
    no line break at either end, strict Base45, one zlib stream (no preset dictionary) that ends exactly
    at the end of the data and inflates to at most ``max_inflated`` bytes, then COSE_Sign1 untagged,
    tagged 18, or tagged 61 then 18, as a definite array of four with a protected header that is a map.
    Every check the general path makes on these steps is made here; anything else returns MISS."""
    if type(text) is not str:
        return _MISS
    cdef str t = <str> text
    cdef Py_ssize_t n = len(t)
    if n > max_chars or n < 5 or not t.isascii() or not t.startswith("HC1:"):
        return _MISS
    if t[n - 1] == "\r" or t[n - 1] == "\n":
        return _MISS
    cdef Py_ssize_t cap = max_inflated if max_inflated < _INFLATE_MAX else _INFLATE_MAX
    if cap <= 0:
        return _MISS
    cdef Py_ssize_t zcap = (n - 4) // 3 * 2 + 1
    cdef unsigned char *work = <unsigned char *> PyMem_Malloc(zcap + cap)
    if work == NULL:
        raise MemoryError()
    try:
        return _decode(<const unsigned char *> PyUnicode_DATA(t) + 4, n - 4, work, work + zcap, cap, max_depth)
    finally:
        PyMem_Free(work)


cdef z_stream _strm  # one inflate state, reset for each text (the GIL is held throughout a call)
cdef bint _strm_ready = False


cdef object _decode(const unsigned char *src, Py_ssize_t n, unsigned char *z, unsigned char *out, Py_ssize_t cap,
                    int max_depth):
    global _strm_ready
    cdef Py_ssize_t zlen = _b45(src, n, z)
    if zlen < 2 or (z[0] & 0x0F) != 8 or (z[0] >> 4) > 7 or (((<unsigned int> z[0]) << 8) | z[1]) % 31 != 0:
        return _MISS  # not Base45, or no zlib header: the general path names the error
    if z[1] & 0x20:  # a preset dictionary
        return _MISS
    _strm.next_in = z
    _strm.avail_in = <unsigned int> zlen
    if not _strm_ready:
        _strm.zalloc = NULL
        _strm.zfree = NULL
        _strm.opaque = NULL
        if inflateInit(&_strm) != Z_OK:
            return _MISS
        _strm_ready = True
    elif inflateReset(&_strm) != Z_OK:
        return _MISS
    _strm.next_in = z
    _strm.avail_in = <unsigned int> zlen
    _strm.next_out = out
    _strm.avail_out = <unsigned int> cap
    cdef int ret = inflate(&_strm, Z_FINISH)
    cdef Py_ssize_t size = cap - _strm.avail_out
    if ret != Z_STREAM_END or _strm.avail_in != 0 or size >= cap:
        return _MISS  # damaged, cut short, too large or followed by data: the general path says which
    return _cose(out, size, max_depth)


cdef Py_ssize_t _b45(const unsigned char *src, Py_ssize_t n, unsigned char *dst):
    """Strict Base45 of ``n`` ASCII bytes into ``dst`` (room for ``n // 3 * 2 + 1``): the length, or -1."""
    if n % 3 == 1:
        return -1
    cdef Py_ssize_t groups = n // 3, i
    cdef unsigned int a, b, c, v
    for i in range(groups):
        a = _DIGITS[src[3 * i]]
        b = _DIGITS[src[3 * i + 1]]
        c = _DIGITS[src[3 * i + 2]]
        if a == 255 or b == 255 or c == 255:
            return -1
        v = a + 45 * b + 2025 * c
        if v > 65535:
            return -1
        dst[2 * i] = v >> 8
        dst[2 * i + 1] = v & 255
    if n % 3 == 2:
        a = _DIGITS[src[n - 2]]
        b = _DIGITS[src[n - 1]]
        if a == 255 or b == 255:
            return -1
        v = a + 45 * b
        if v > 255:
            return -1
        dst[2 * groups] = v
        return 2 * groups + 1
    return 2 * groups


cdef object _cose(const unsigned char *buf, Py_ssize_t size, int max_depth):
    cdef Py_ssize_t pos = 0
    cdef tuple tags = ()
    if size >= 1 and buf[0] == 0xD2:
        pos, tags = 1, (18,)
    elif size >= 3 and buf[0] == 0xD8 and buf[1] == 0x3D and buf[2] == 0xD2:
        pos, tags = 3, (61, 18)
    if pos >= size or buf[pos] != 0x84:  # other tags, or not a definite array of four
        return _MISS
    cdef _Reader r = _Reader()
    r.buf = buf
    r.pos = pos + 1
    r.end = size
    r.max_depth = max_depth - 2
    if r.max_depth < 1:
        return _MISS
    protected_bytes = _item(r, 1)
    if type(protected_bytes) is not bytes:
        return _MISS
    unprotected = _item(r, 1)
    if type(unprotected) is not dict:
        return _MISS
    payload = _item(r, 1)
    if type(payload) is not bytes:
        return _MISS
    signature = _item(r, 1)
    if type(signature) is not bytes or r.pos != r.end:
        return _MISS
    if PyBytes_GET_SIZE(<bytes> protected_bytes) == 0:
        protected = {}
    else:
        protected = cbor_loads(<bytes> protected_bytes, max_depth)
        if type(protected) is not dict:
            return _MISS
    claims = cbor_loads(<bytes> payload, max_depth)
    cdef bytes tbs = _sig_structure(<bytes> protected_bytes, <bytes> payload)
    return protected_bytes, protected, unprotected, payload, signature, tags, tbs, claims


cdef bytes _der_integer(const unsigned char *p, Py_ssize_t n):
    cdef Py_ssize_t i = 0
    while i < n - 1 and p[i] == 0:
        i += 1
    cdef bint pad = p[i] >= 0x80
    cdef Py_ssize_t length = n - i + pad
    cdef bytes out = PyBytes_FromStringAndSize(NULL, length + 2)
    cdef unsigned char *o = <unsigned char *> PyBytes_AS_STRING(out)
    o[0] = 0x02
    o[1] = <unsigned char> length
    if pad:
        o[2] = 0
    memcpy(o + 2 + pad, p + i, n - i)
    return out


def der_signature(bytes signature):
    """The DER form (SEQUENCE of two INTEGERs) of a raw ECDSA ``r || s`` signature of even length up to
    132 bytes (P-521), as ``encode_dss_signature`` writes it; None for any other length."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(signature)
    if n == 0 or n % 2 or n > 132:
        return None
    cdef const unsigned char *p = <const unsigned char *> PyBytes_AS_STRING(signature)
    cdef bytes body = _der_integer(p, n // 2) + _der_integer(p + n // 2, n // 2)
    cdef Py_ssize_t length = PyBytes_GET_SIZE(body)
    if length < 128:
        return bytes((0x30, length)) + body
    return bytes((0x30, 0x81, length)) + body


# ---- the EU DCC schema (1.3.x), vaccination certificates of the common shape ------------------------------

cdef bint _text(object value, Py_ssize_t most):
    return type(value) is str and len(<str> value) <= most


cdef bint _ascii_digits(str s, Py_ssize_t start, Py_ssize_t stop):
    cdef Py_ssize_t i
    cdef Py_UCS4 c
    for i in range(start, stop):
        c = s[i]
        if c < 48 or c > 57:
            return False
    return True


cdef inline int _digit(str s, Py_ssize_t i):
    cdef Py_UCS4 c = s[i]
    return <int> c - 48


cdef bint _full_date(object value):
    """YYYY-MM-DD, a real calendar day of 1900-2099 (the years certificates carry)."""
    if type(value) is not str:
        return False
    cdef str s = <str> value
    if len(s) != 10 or s[4] != "-" or s[7] != "-" or not _ascii_digits(s, 0, 4) or not _ascii_digits(s, 5, 7) \
            or not _ascii_digits(s, 8, 10):
        return False
    cdef int year = _digit(s, 0) * 1000 + _digit(s, 1) * 100 + _digit(s, 2) * 10 + _digit(s, 3)
    cdef int month = _digit(s, 5) * 10 + _digit(s, 6), day = _digit(s, 8) * 10 + _digit(s, 9)
    if year < 1900 or year > 2099 or month < 1 or month > 12 or day < 1:
        return False
    cdef int days = 31
    if month == 2:
        days = 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28
    elif month == 4 or month == 6 or month == 9 or month == 11:
        days = 30
    return day <= days


cdef bint _dob(object value):
    """The dob pattern ``^((19|20)\\d\\d(-\\d\\d){0,2}){0,1}$``, ASCII digits only."""
    if type(value) is not str:
        return False
    cdef str s = <str> value
    cdef Py_ssize_t n = len(s)
    if n == 0:
        return True
    if (n != 4 and n != 7 and n != 10) or not _ascii_digits(s, 0, 4) or not (
            (s[0] == "1" and s[1] == "9") or (s[0] == "2" and s[1] == "0")):
        return False
    if n >= 7 and (s[4] != "-" or not _ascii_digits(s, 5, 7)):
        return False
    if n == 10 and (s[7] != "-" or not _ascii_digits(s, 8, 10)):
        return False
    return True


cdef bint _icao(object value):
    """``^[A-Z<]*$`` and at most 80 characters."""
    if not _text(value, 80):
        return False
    cdef Py_UCS4 c
    for c in <str> value:
        if c != 60 and (c < 65 or c > 90):  # "<", "A" to "Z"
            return False
    return True


cdef bint _version(object value):
    """A version of three dot-separated ASCII numbers (a subset of the schema's ``^\\d+.\\d+.\\d+$``)."""
    if type(value) is not str:
        return False
    cdef Py_UCS4 c
    cdef int dots = 0, run = 0
    for c in <str> value:
        if c == 46:  # "."
            if run == 0:
                return False
            dots += 1
            run = 0
        elif 48 <= c <= 57:
            run += 1
        else:
            return False
    return dots == 2 and run > 0


cdef bint _dose(object value):
    return type(value) is int and 1 <= value <= 1000


cdef bint _has_capital(object value):
    """The country pattern ``[A-Z]{1,10}`` is not anchored: one ASCII capital letter anywhere matches."""
    if type(value) is not str:
        return False
    cdef Py_UCS4 c
    for c in <str> value:
        if 65 <= c <= 90:
            return True
    return False


def dcc_vaccination_valid(object payload):
    """True when ``payload`` is plain JSON data and an EU DCC vaccination certificate that surely follows
    the EU DCC 1.3.x schema; False when unsure (then the schema validator decides). Only a subset of what
    the schema allows gets True: ASCII digits in versions and dates, dates of 1900-2099, one vaccination
    entry and no test or recovery group."""
    if type(payload) is not dict or not _plain(payload, 0):
        return False
    cdef dict p = <dict> payload
    if "t" in p or "r" in p:
        return False
    ver, nam, dob, v = p.get("ver"), p.get("nam"), p.get("dob"), p.get("v")
    if not _version(ver) or not _dob(dob) or type(nam) is not dict or type(v) is not list or len(<list> v) != 1:
        return False
    cdef dict name = <dict> nam
    if "fnt" not in name and "gnt" not in name:
        return False
    for key in ("fn", "gn"):
        if key in name and not _text(name[key], 80):
            return False
    for key in ("fnt", "gnt"):
        if key in name and not _icao(name[key]):
            return False
    entry = (<list> v)[0]
    if type(entry) is not dict:
        return False
    cdef dict e = <dict> entry
    for key in ("tg", "vp", "mp", "ma"):
        if type(e.get(key)) is not str:
            return False
    return (_dose(e.get("dn")) and _dose(e.get("sd")) and _full_date(e.get("dt")) and _has_capital(e.get("co"))
            and _text(e.get("is"), 80) and _text(e.get("ci"), 80))


# ---- the claims and the certificate entry, common shapes only ------------------------------------------

cdef bint _seconds(object value):
    return type(value) is int and 0 <= value < 2**40


def claim_fields(object claims):
    """``(iat, exp, iss, kind, payload)`` of a CWT claims map of the common shape, or MISS: iat and exp
    whole numbers of seconds in range, iss text or absent, and an hcert claim holding an EU DCC (key 1) or
    a WHO DDCC:VS (key -6) map, as ``hcert.numeric_date`` / ``hcert.hcert_content`` read them."""
    if type(claims) is not dict:
        return _MISS
    cdef dict c = <dict> claims
    iat, exp, iss, hc = c.get(6), c.get(4), c.get(1), c.get(-260)
    if not _seconds(iat) or not _seconds(exp) or (iss is not None and type(iss) is not str):
        return _MISS
    if type(hc) is not dict or not hc:
        return _MISS
    payload = (<dict> hc).get(1)
    if type(payload) is dict:
        return iat, exp, iss, "eu-dcc", payload
    if 1 not in <dict> hc:
        payload = (<dict> hc).get(-6)
        if type(payload) is dict:
            return iat, exp, iss, "ddcc", payload
    return _MISS


def dcc_entry(object payload):
    """``(certificate type, identifier, country)`` of an EU DCC with exactly one of the groups v, t and r
    whose first entry is a map, as ``hcert.certificate_type`` and ``hcert.uvci`` read them; else MISS."""
    if type(payload) is not dict:
        return _MISS
    cdef dict p = <dict> payload
    cdef str group = ""
    for g in ("v", "t", "r"):
        if g in p:
            if group:
                return _MISS
            group = g
    if not group:
        return _MISS
    entries = p[group]
    if type(entries) is not list or not entries or type((<list> entries)[0]) is not dict:
        return _MISS
    entry = <dict> (<list> entries)[0]
    ci, co = entry.get("ci"), entry.get("co")
    if type(ci) is not str:
        ci = None
    if type(co) is str and len(<str> co) == 2 and (<str> co).isascii() and (<str> co).isalpha():
        co = (<str> co).upper()
    else:
        co = None
    return group, ci, co


# ---- revocation: the common no-match lookup ------------------------------------------------------------------

def revocation_miss(tuple plan, object sha256, bytes signature, Py_ssize_t half, object uci_bytes,
                    object country_uci):
    """True when none of the tables of a revocation plan (``RevocationIndex._plan``) holds the
    certificate's hashes: SIGNATURE of ``signature[:half]``, UCI of ``uci_bytes`` and COUNTRYCODEUCI of
    ``country_uci`` (either None when absent), each the first 16 bytes of ``sha256(data).digest()``.
    False when some table holds one: the caller then looks the batches up itself."""
    cdef object data, h
    cdef tuple entry
    for item in plan:
        entry = <tuple> item
        ht = entry[0]
        if ht == "SIGNATURE":
            data = signature[:half]
        elif ht == "UCI":
            data = uci_bytes
        else:
            data = country_uci
        if data is None:
            continue
        h = sha256(data).digest()[:16]
        for table in <tuple> entry[1]:
            if h in <dict> table:
                return False
    return True
