"""What every benchmark records about the code and the machine it measured."""

from __future__ import annotations

import contextlib
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_state() -> dict[str, Any]:
    """The code measured: the commit, and the application files changed but not committed."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=10)
        except OSError:
            return None
        return out.stdout.rstrip("\n") if out.returncode == 0 else None
    status = git("status", "--porcelain", "--", "dho")
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "uncommitted_app_changes": [line[3:] for line in status.splitlines()] if status else []}


def cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None
