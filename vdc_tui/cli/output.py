"""What the headless commands print, and where.

Progress, device codes and errors go to stderr; stdout carries the command's result (one
JSON object with ``--json``, nothing else). Every piece of untrusted text (server messages,
tenant names, file names) passes through :func:`~vdc_tui.connect.errors.scrub` first, so it
cannot move the cursor or retitle the terminal.

When the reader of stdout or stderr goes away (``vdc-tui connections list | head -1``), the
command stops quietly like a standard Unix tool: :class:`OutputClosed` unwinds the run, and
the command line's entry point answers it with :func:`quiet_exit` (no traceback, no error
line, exit status 141 = 128 + SIGPIPE, what a shell shows for a tool stopped by SIGPIPE).
"""

from __future__ import annotations

import errno
import json
import os
import select
import signal
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from vdc_tui.connect.errors import VdcError, scrub

if TYPE_CHECKING:
    from vdc_tui.connect.models import CheckEvent, CheckStatus, DeviceCode

# CheckStatus values by their text (a StrEnum member equals and hashes as its text): the
# models are not imported with the command line, before the wizard's first frame (~4 ms).

#: States after which a checklist line will not change again.
FINAL_STATES: frozenset[str] = frozenset({"pass", "warn", "fail", "skipped"})

#: Exit status after stdout or stderr was closed by its reader (128 + SIGPIPE).
EXIT_OUTPUT_CLOSED = 128 + int(signal.SIGPIPE)

_LABELS = {
    "pass": "pass",
    "warn": "warn",
    "fail": "fail",
    "skipped": "skip",
    "running": "....",
    "pending": "    ",
}


def status_line(status: CheckStatus, title: str, detail: str = "", fix: str = "") -> str:
    """``[pass] Title: detail`` plus an indented ``fix:`` line on warn/fail."""
    text = f"[{_LABELS[status]}] {scrub(title, limit=200)}"
    if detail:
        text += f": {scrub(detail, limit=1000)}"
    if fix and status in ("warn", "fail"):
        text += f"\n       fix: {scrub(fix, limit=1000)}"
    return text


def wants_colour(stream: TextIO) -> bool:
    """Whether ANSI colours may be written to ``stream``."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM", "") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


#: How ``--qr`` draws the sign-in address's QR code on stderr: Unicode half blocks (two
#: module rows per line, light modules as ink, for a dark terminal), plain ASCII (``##`` per
#: dark module, one line per module row, for a log, an e-mail or paper: dark on light), or
#: none.
QR_STYLES = ("unicode", "ascii", "off")


def qr_ascii_lines(data: str, *, border: int = 4) -> list[str]:
    """A QR code of ``data`` in ASCII only: ``##`` for a dark module, two spaces for a light
    one, one line per module row (a character cell is about twice as tall as it is wide,
    so two characters make a square module). Read dark on light, as printed; the quiet zone
    is ``border`` modules (the standard's 4: a log or page around it may be anything)."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_L

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_L, border=border)
    code.add_data(data)
    code.make(fit=True)
    matrix: list[list[bool]] = code.get_matrix()
    return ["".join("##" if dark else "  " for dark in row).rstrip() for row in matrix]


def qr_lines(data: str, *, ansi: bool = False, border: int = 2) -> list[str]:
    """A QR code of ``data`` drawn with half blocks (two modules per character cell).

    Light modules are drawn as ink, so the code reads right on a dark terminal; with
    ``ansi`` each line is also painted white on black, which reads right on any theme.
    The quiet zone is ``border`` modules wide (2 decodes reliably on screens).
    """
    import qrcode  # small, but only needed when a device code is shown
    from qrcode.constants import ERROR_CORRECT_L

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_L, border=border)
    code.add_data(data)
    code.make(fit=True)
    matrix: list[list[bool]] = code.get_matrix()  # True = dark module, border included
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))  # pad with a light row
    lines = []
    for top, bottom in zip(matrix[0::2], matrix[1::2], strict=True):
        chars = []
        for dark_top, dark_bottom in zip(top, bottom, strict=True):
            light_top, light_bottom = not dark_top, not dark_bottom
            if light_top and light_bottom:
                chars.append("█")
            elif light_top:
                chars.append("▀")
            elif light_bottom:
                chars.append("▄")
            else:
                chars.append(" ")
        line = "".join(chars)
        lines.append(f"\x1b[97;40m{line}\x1b[0m" if ansi else line)
    return lines


class OutputClosed(BaseException):
    """The reader of our stdout or stderr has gone; the run stops without another word.

    A ``BaseException``, like ``KeyboardInterrupt``: a step's ``except Exception`` must not
    take a closed terminal pipe for that step's failure and carry on writing.
    """


def _reader_gone(stream: TextIO | None) -> bool:
    """Whether ``stream`` is a pipe or socket whose reading end has been closed."""
    try:
        fd = stream.fileno() if stream is not None else -1
    except (OSError, ValueError, AttributeError):
        return False
    if fd < 0 or not hasattr(select, "poll"):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    try:
        events = poller.poll(0)
    except OSError:
        return False
    return any(mask & (select.POLLERR | select.POLLHUP) for _, mask in events)


def is_output_closed(exc: BaseException) -> bool:
    """Whether ``exc`` means our own stdout or stderr lost its reader.

    A ``BrokenPipeError`` can also come from a socket; it counts only when stdout or stderr
    really is a pipe without a reader (so a network failure keeps its own error).
    """
    if isinstance(exc, OutputClosed):
        return True
    if not (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
        return False
    return _reader_gone(sys.stdout) or _reader_gone(sys.stderr)


def quiet_exit() -> int:
    """End a run whose stdout or stderr was closed by its reader; returns the exit status.

    Whichever stream lost its reader is pointed at ``/dev/null``, so that the interpreter's
    last flush of buffered text cannot print "Exception ignored ... BrokenPipeError".
    """
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and _reader_gone(stream):
            _to_devnull(stream)
    return EXIT_OUTPUT_CLOSED


#: Streams whose reader has gone (by ``id``): they take nothing more.
_closed_streams: set[int] = set()


#: Errors of a write to a terminal that has hung up (a dropped SSH session, a closed tmux
#: pane). The kernel's SIGHUP is what stops the run (see ``connect_cmd.run_cancellable``);
#: the write itself only stops writing, so the rollback that SIGHUP sets off is not broken.
_HUNG_UP = frozenset({errno.EIO, errno.ENXIO})


def _to_devnull(stream: TextIO) -> None:
    """Point ``stream``'s descriptor at ``/dev/null``: what it still holds (the text of the
    failed write) and any later flush, such as the interpreter's last, go nowhere quietly."""
    try:
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        return
    try:
        os.dup2(devnull, fd)
    except OSError:
        pass
    finally:
        os.close(devnull)


def write(stream: TextIO | None, text: str) -> None:
    """Write and flush ``text``; a reader that has gone raises :class:`OutputClosed` once.

    After that, the stream silently takes nothing: a rollback that the stop sets off still
    reports progress, and must not be interrupted a second time. A terminal that has hung
    up takes nothing from its first failed write on, without raising (its SIGHUP stops the
    run). A stream that does not exist (the process was started with that descriptor
    closed, so Python has ``None``) takes nothing, as ``print`` does.
    """
    if stream is None or id(stream) in _closed_streams:
        return
    try:
        stream.write(text)
        stream.flush()
    except OSError as exc:
        if exc.errno in _HUNG_UP:
            _closed_streams.add(id(stream))
            _to_devnull(stream)
            return
        if exc.errno == errno.EPIPE:
            _closed_streams.add(id(stream))
            raise OutputClosed from None
        raise


class Reporter:
    """Writes a headless run's progress to stderr and its result to stdout.

    Args:
        json_mode: ``--json``: stdout gets exactly one JSON object at the end.
        out: Where results go (stdout).
        err: Where progress and errors go (stderr).
        qr: How a device code's QR code is drawn (``--qr``: unicode, ascii or off).
    """

    def __init__(self, *, json_mode: bool, out: TextIO | None = None,
                 err: TextIO | None = None, qr: str = "unicode") -> None:
        self.json_mode = json_mode
        #: How a device code's QR code is drawn (one of :data:`QR_STYLES`).
        self.qr = qr
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self._last: dict[str, tuple[CheckStatus, str]] = {}
        self._emitted = False
        #: Messages already shown with their fix in a ``[fail]`` line (not repeated).
        self._failed_shown: dict[str, str] = {}

    # -- stderr --------------------------------------------------------------------------

    def note(self, text: str) -> None:
        """One line of information on stderr (``text`` is scrubbed)."""
        write(self.err, scrub(text, limit=2000) + "\n")

    def warning(self, text: str) -> None:
        """A loud warning line on stderr."""
        write(self.err, f"WARNING: {scrub(text, limit=2000)}\n")

    def check(self, status: CheckStatus, title: str, detail: str = "", fix: str = "") -> None:
        """One checklist line on stderr."""
        write(self.err, status_line(status, title, detail, fix) + "\n")
        if status == "fail" and detail:
            self._failed_shown[detail] = fix

    def progress(self, event: CheckEvent) -> None:
        """The :data:`~vdc_tui.connect.models.ProgressCallback` of headless runs.

        Only final states are printed, each once per step (a step may report PASS again
        with new detail after a retry; that is printed).
        """
        if event.status not in FINAL_STATES:
            return
        key = (event.status, event.detail)
        if self._last.get(event.step) == key:
            return
        self._last[event.step] = key
        self.check(event.status, event.title, event.detail, event.remediation)

    def device_code(self, code: DeviceCode, *, extra: str | None = None) -> None:
        """Show a device code, its address and a QR code of the address, at once."""
        uri = scrub(code.verification_uri, limit=300)
        user_code = scrub(code.user_code, limit=40)
        expires = code.expires_at.astimezone(UTC).strftime("%H:%M:%S UTC")
        left = (
            f"{max(1, code.expires_in)} s"
            if code.expires_in < 60
            else f"{max(1, round(code.expires_in / 60))} min"
        )
        lines = [
            "",
            "To sign in, a Global Administrator of the customer's tenant opens",
            f"    {uri}",
            f"and enters the code  {user_code}",
            f"(the code expires at {expires}, in about {left}; Ctrl+C cancels)",
        ]
        if extra:
            lines.append(scrub(extra, limit=300))
        write(self.err, "\n".join(lines) + "\n")
        try:
            if self.qr == "off":
                qr = []
            elif self.qr == "ascii":
                qr = qr_ascii_lines(code.verification_uri)
            else:
                qr = qr_lines(code.verification_uri, ansi=wants_colour(self.err))
        except Exception:  # a QR is a convenience; the address above is what matters
            qr = []
        if qr:
            write(self.err, "\n".join(qr) + "\n")
        write(self.err, "\n")

    def failure(self, error: VdcError) -> None:
        """An error: message, code and fix on stderr; the failure object on stdout (--json)."""
        if self._failed_shown.get(error.message) == error.remediation:
            # The [fail] line above said it all, fix included: only the code, once.
            write(self.err, f"error: the step above failed [{error.code}]\n")
        else:
            write(self.err, f"error: {scrub(error.message)} [{error.code}]\n")
            if error.remediation:
                write(self.err, f"  fix: {scrub(error.remediation)}\n")
        if self.json_mode:
            self.emit({"status": "failed", "error": _clean(error.to_json())})

    # -- stdout --------------------------------------------------------------------------

    def emit(self, document: dict[str, Any]) -> None:
        """Write the one JSON object of ``--json`` output to stdout (only once)."""
        if self._emitted:
            return
        self._emitted = True
        # One write of the whole object: a reader gets all of it or a prefix it can tell
        # is cut (and then we stop), never two objects or a mix with other text.
        write(self.out, json.dumps(document, ensure_ascii=True, default=_json_default) + "\n")

    def result(self, text: str) -> None:
        """Human-readable result text on stdout (not used with --json)."""
        write(self.out, text + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _clean(value: Any) -> Any:
    """Scrub every string of a JSON value (error details quote server text)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value
