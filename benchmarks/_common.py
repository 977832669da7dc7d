"""What every benchmark script shares: the command line it records, the results file it writes, and the
process memory counters its fresh-subprocess memory measurements read. Not a benchmark itself.

Scripts run as ``python benchmarks/<name>.py`` have this folder on ``sys.path`` and import it as ``_common``.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def command_line() -> str:
    """How this run was started (interpreter relative to the repository root, then the arguments): recorded
    in every results file, so a committed number says how to reproduce it."""
    return " ".join([os.path.relpath(sys.executable, ROOT), *sys.argv])


def write_json(path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` as JSON to ``path`` atomically (temporary file, then rename; parent folders created),
    so an interrupted run never leaves a half-written results file, and say so on stdout."""
    from pde_kan._io import atomic_write

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=1) + "\n"))
    print(f"wrote {path}")
    return path


def status_kb(field: str) -> int:
    """A ``/proc/self/status`` counter in kB, e.g. ``VmRSS`` (resident now) or ``VmHWM`` (peak resident)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(f"{field} is not in /proc/self/status")


def reset_peak_rss() -> bool:
    """Reset this process's ``VmHWM`` (writing 5 to ``/proc/self/clear_refs``); False where that is not
    allowed, and the caller must fall back to the lifetime peak."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False
