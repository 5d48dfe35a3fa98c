"""The compiled fast path of HCERT decoding (``dho/trust/_hc1fast.pyx``), when it is built.

``fast`` is the compiled module, or None when it was not built (no C compiler at install time) or when
the environment variable ``DHO_TRUST_PURE=1`` asks for the pure-Python path (to compare the two, or to
rule the compiled code out while investigating). Either way the verdicts are the same: the compiled
functions only answer inputs they are sure of and hand everything else to the pure-Python code."""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("DHO_TRUST_PURE", "") not in ("", "0"):
        return None
    try:
        from dho.trust import _hc1fast
    except ImportError:
        return None
    return _hc1fast


fast = _load()
