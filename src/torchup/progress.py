"""Progress for the steps that can run for minutes: a package manager, ``verify``, downloads.

Shown on a terminal only (the caller decides: never without one, never with ``--json``).
While a package manager is silent (pip prints nothing for over a minute while it unpacks a
CUDA torch), a ``Heartbeat`` redraws one status line every second: the step, its phase as
read from the manager's own output, the time elapsed and how long it has been quiet.  The
line is erased before the manager's next output, so the two never mix.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

TYPE_CHECKING = False  # typing is not imported at run time: start-up cost (issue 15)
if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["HEARTBEAT_S", "Heartbeat", "describe_rate", "phase_of", "status_line"]

HEARTBEAT_S = 1.0  # a silent step shows it is alive this often
_ERASE = "\r\x1b[K"  # back to column 0, clear to the end of the line: not a colour, NO_COLOR keeps it

# what pip and uv print as they move from one phase to the next (their wording, lower-cased)
_PHASES = (
    ("installing collected packages", "installing (unpacking wheels)"),
    ("successfully installed", "finished"),
    ("installed ", "finished"),  # uv: "Installed 3 packages in 1.2s"
    ("prepared ", "installing"),  # uv: "Prepared 3 packages in 40s"
    ("downloading ", "downloading"),
    ("resolved ", "downloading"),  # uv: "Resolved 3 packages in 2s"
    ("collecting ", "resolving"),
    ("looking in indexes", "resolving"),
)


def phase_of(text: str) -> str | None:
    """The phase the last recognised line of ``text`` (a manager's output) starts, or None."""
    for line in reversed(text.replace("\r", "\n").split("\n")):
        low = line.strip().lower()
        for marker, phase in _PHASES:
            if low.startswith(marker):
                return phase
    return None


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def status_line(label: str, phase: str | None, elapsed: float, quiet: float) -> str:
    """``torchup: pip, installing (unpacking wheels): 1 min 14 s, no output for 40 s``."""
    what = f"{label}, {phase}" if phase else label
    tail = f", no output for {_duration(quiet)}" if quiet >= 2 * HEARTBEAT_S else ""
    return f"torchup: {what}: {_duration(elapsed)}{tail}"


def describe_rate(received: int, total: int | None, elapsed: float) -> str:
    """``12.5/393.1 MB at 4.2 MB/s``: bytes received and the mean rate so far."""
    done = f"{received / 1e6:.1f}" + (f"/{total / 1e6:.1f}" if total else "") + " MB"
    return f"{done} at {received / 1e6 / elapsed:.1f} MB/s" if elapsed > 0 else done


class Heartbeat:
    """A status line kept alive while a step runs; a context manager.

    ``echo`` passes the step's own output on (erasing the status line first); ``note`` sets
    a detail shown after the label (bytes and rate of a download).  Disabled, it only passes
    output on.
    """

    def __init__(
        self,
        stream: TextIO,
        label: str,
        *,
        enabled: bool,
        echo: Callable[[bytes], None] | None = None,
        interval: float = HEARTBEAT_S,
    ) -> None:
        self.stream = stream
        self.label = label
        self.enabled = enabled
        self._echo = echo
        self.interval = interval
        self.phase: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._shown = False
        self._midline = False  # the step's output so far ends inside a line
        self._start = self._last = time.monotonic()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self.enabled:
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._erase()

    def echo(self, chunk: bytes) -> None:
        with self._lock:
            self._last = time.monotonic()
            if self.enabled:
                self.phase = phase_of(chunk.decode("utf-8", "replace")) or self.phase
            self._erase()
            if chunk:
                self._midline = not chunk.endswith((b"\n", b"\r"))
            if self._echo is not None:
                self._echo(chunk)

    def note(self, phase: str) -> None:
        with self._lock:
            self.phase = phase

    def erase(self) -> None:
        """Before a line of torchup's own: the status line goes, and the step counts as talking."""
        with self._lock:
            self._last = time.monotonic()
            self._erase()

    def _erase(self) -> None:
        if self._shown:
            self.stream.write(_ERASE)
            self.stream.flush()
            self._shown = False

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                now = time.monotonic()
                if now - self._last < self.interval:
                    continue  # the step itself is talking
                line = status_line(self.label, self.phase, now - self._start, now - self._last)
                # below a half-written line of the step's own, not over it
                self.stream.write(("\n" if self._midline else _ERASE) + line)
                self._midline = False
                self.stream.flush()
                self._shown = True
