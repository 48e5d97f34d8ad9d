"""Running a benchmark script of ``benchmarks/`` from a test, as anyone would from a shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def run_benchmark(
    script: str, out_dir: Path, *args: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``benchmarks/<script>`` with ``args`` and ``--out-dir out_dir``, in this interpreter;
    its output captured (the caller checks the return code with the report at hand)."""
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / script), *args, "--out-dir", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
