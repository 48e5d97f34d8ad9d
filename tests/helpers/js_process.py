"""The node scripts of ``tests/js`` (strict ocpp-rpc chargers) as child processes of a test.

A script prints one JSON line per step (``{"step": ..., ...}``); :class:`JsProcess` keeps them,
waits for a step, ends the script (stdin closed, or its own exit) and shows its transcript, stderr
included, when a step never comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

NODE = shutil.which("node")
JS_DIR = Path(__file__).resolve().parents[1] / "js"
STEP_TIMEOUT_S = 30.0


def any_line(_line: dict[str, Any]) -> bool:
    return True


class JsProcess:
    """A node script's process and the JSON lines it printed."""

    label: ClassVar[str] = "the JS script"

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.stderr = b""
        self.ended = False  # its output ended: a step not seen yet will never come
        self._changed = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            async for raw in self.process.stdout:
                line = json.loads(raw)
                async with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()
        finally:
            self.ended = True
            async with self._changed:
                self._changed.notify_all()

    def steps(self, step: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["step"] == step]

    def received(self, action: str) -> list[dict[str, Any]]:
        return [line for line in self.steps("received") if line["action"] == action]

    async def wait_for(
        self, step: str, predicate: Callable[[dict[str, Any]], bool] = any_line
    ) -> dict[str, Any]:
        """The first line of ``step`` matching ``predicate`` (waiting for it; failing the test
        with the transcript if the script ends or times out first)."""

        def found() -> dict[str, Any] | None:
            return next((li for li in self.steps(step) if predicate(li)), None)

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STEP_TIMEOUT_S), self._changed:
                await self._changed.wait_for(lambda: found() is not None or self.ended)
        line = found()
        if line is None:
            if self.ended:  # it exited: what it said on stderr explains why
                await self._read_stderr()
            pytest.fail(f"{self.label} never reached {step!r}; output:\n{self.transcript()}")
        return line

    async def wait_exit(self, timeout_s: float = STEP_TIMEOUT_S) -> int:
        """Wait for the script to end by itself; its exit code."""
        async with asyncio.timeout(timeout_s):
            await self._reader
            await self._read_stderr()
            return await self.process.wait()

    async def quit(self) -> int:
        """Ask the script to leave (stdin closed); its exit code."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        return await self.wait_exit()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                self.stderr += await self.process.stderr.read()

    def transcript(self) -> str:
        return "\n".join(json.dumps(line) for line in self.lines) + "\n" + self.stderr.decode()

    async def stop(self) -> None:
        """Kill the script if it still runs, and stop reading it."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def run_js[P: JsProcess](kind: type[P], script: Path, *args: str) -> AsyncIterator[P]:
    """Run ``node script *args`` in ``tests/js`` as ``kind``; killed on leaving if still running."""
    if not (JS_DIR / "node_modules" / "ocpp-rpc").is_dir():
        pytest.fail("tests/js/node_modules is missing: run scripts/setup (npm ci in tests/js)")
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(script),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=JS_DIR,
    )
    js = kind(process)
    try:
        yield js
    finally:
        await js.stop()
