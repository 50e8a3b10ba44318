"""Record the demo tour: an asciicast v2 file and an animated SVG for the README.

    .venv/bin/python scripts/record_demo.py [--out screenshots] [--port 47443]

The real program runs in a pseudo-terminal of 80×24 (``bench/terminal.py``: keys in, bytes
out, the screen read back through ``pyte``), once per command of the tour, as an operator
at a shell would run them:

1. ``vdc-tui --demo``: automatic onboarding of Contoso; the device code is copied (``c``)
   and the simulated customer approves it.
2. ``vdc-tui connect manual --demo`` with a wrong PFX password: the error and its fix, then
   the same command with the right one.
3. ``vdc-tui connections --demo``: the dashboard checks the demo fleet (``C``), renews the
   expiring tenant (``r``) and repairs the one whose consent was revoked (``p``).

Every byte the program wrote goes into ``demo.cast`` (asciicast v2: a JSON header line,
then one ``[seconds, "o", text]`` line per write; pauses longer than 1.5 s are shortened),
with a typed prompt line before each command; the recording ends on the dashboard, before
it is left (not on a cleared screen). ``demo.svg`` replays the cast through a terminal
emulator and draws its still moments, one after the other, in an SVG animation (no
script; our own renderer).

Deterministic where the screen allows: the world is seeded fresh in a throw-away home
folder with a fixed path (so no path of the machine appears), the emulator listens on the
fixed demo port (the script stops if it is taken), the demo device code is fixed, and the
dashboard shows ages and days rather than dates. Certificate end dates of the renewal are
today's plus two years.
"""

from __future__ import annotations

import argparse
import codecs
import html
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyte

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: bench/ is beside scripts/
    sys.path.insert(0, str(ROOT))

from bench.terminal import PtyTerminal  # noqa: E402

COLS, ROWS = 80, 24
DEMO_PORT = 47443
#: Longest pause kept in the cast (seconds); longer ones are shortened to this.
IDLE_LIMIT = 1.5
#: The last thing the tour shows (the test checks the script got there).
FINAL_TEXT = "Repaired"
PROMPT = "\x1b[1;32m$\x1b[0m "
PFX_IN_HOME = Path("Downloads") / "contoso-vdc.pfx"
WRONG_PASSWORD = "Demo-typo-1"


class TourError(RuntimeError):
    """The program did not show what the tour waits for."""


@dataclass
class Cast:
    """The events of one recording: ``(seconds, text)``, times from the start."""

    events: list[tuple[float, str]] = field(default_factory=list)
    clock: float = 0.0

    def pause(self, seconds: float) -> None:
        """Nothing is written for ``seconds``."""
        self.clock += seconds

    def write(self, text: str, after: float = 0.0) -> None:
        """Write ``text`` ``after`` seconds from now."""
        self.clock += after
        self.events.append((round(self.clock, 3), text))

    def type_command(self, shown: str) -> None:
        """A prompt and a command typed at a person's pace, then Enter."""
        self.write(PROMPT, after=0.4)
        for ch in shown:
            self.write(ch, after=0.035)
        self.write("\r\n", after=0.3)

    def add_program(self, chunks: Sequence[tuple[float, bytes]], started: float,
                    until: float | None = None, *,
                    home: tuple[str, str] | None = None) -> None:
        """A program's bytes, timed from its start (pauses shortened), up to ``until``;
        ``home``: (a folder, what to show instead) in what it printed."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        last = started
        pieces: list[tuple[float, str]] = []
        for at, data in chunks:
            if until is not None and at > until:
                break
            self.clock += min(max(at - last, 0.0), IDLE_LIMIT)
            last = at
            pieces.append((round(self.clock, 3), decoder.decode(data)))
        pieces.append((round(self.clock, 3), decoder.decode(b"", final=True)))
        if home is not None:
            pieces = _without_home(pieces, home)
        self.events += [(t, text) for t, text in pieces if text]

    def lines(self) -> list[str]:
        """The asciicast v2 file, line by line."""
        header = {"version": 2, "width": COLS, "height": ROWS, "idle_time_limit": IDLE_LIMIT,
                  "title": "vdc-tui: the demo tour",
                  "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"}}
        out = [json.dumps(header)]
        out += [json.dumps([t, "o", text], ensure_ascii=False) for t, text in self.events]
        return out


def _without_home(pieces: list[tuple[float, str]], home: tuple[str, str]
                  ) -> list[tuple[float, str]]:
    """``pieces`` with the folder ``home[0]`` shown as ``home[1]``; two writes that split
    the folder's name are made one (at the time of the second)."""
    size = len(home[0])
    joined: list[tuple[float, str]] = []
    for at, text in pieces:
        if joined and home[0] in joined[-1][1][-(size - 1):] + text[:size - 1]:
            joined[-1] = (at, joined[-1][1] + text)
        else:
            joined.append((at, text))
    return [(at, text.replace(home[0], home[1])) for at, text in joined]


@dataclass
class Tour:
    """Runs the tour's commands in a throw-away home and records them into :attr:`cast`."""

    scratch: Path
    port: int
    timeout: float = 90.0
    #: How long the tour lingers on each screen, as a share of a viewer's pace (the test
    #: runs it quicker).
    pace: float = 1.0
    cast: Cast = field(default_factory=Cast)
    screens: list[str] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.scratch / "home"

    def env(self, **more: str) -> dict[str, str]:
        return {"HOME": str(self.home), "VDC_TUI_HOME": str(self.home / ".vdc-tui"), **more}

    def program(self, shown: str, argv: Sequence[str], drive: Callable[[PtyTerminal], float |
                None], **env: str) -> None:
        """Type ``shown`` at the prompt, run ``argv``, let ``drive`` press keys; ``drive``
        may return the moment after which nothing more is recorded."""
        self.cast.type_command(shown)
        term = PtyTerminal([sys.executable, "-m", "vdc_tui", *argv], cols=COLS, rows=ROWS,
                           env=self.env(**env), cwd=str(self.home), keep_bytes=True)
        started = term.start()
        try:
            until = drive(term)
            self.screens.append(term.text())
            if until is None:
                status = term.close(timeout=self.timeout)
                if status.returncode not in (0, 2):
                    raise TourError(f"{shown}: exit {status.returncode}\n{term.text()}")
        finally:
            term.kill()
        # A path the program prints in full (the profile it saved) is under the throw-away
        # home: shown as ~, as the wizard's screens show it, so no machine path is kept.
        self.cast.add_program(term.recorded(), started, until,
                              home=(str(self.home), "~"))
        if until is None:
            self.cast.pause(0.8)

    def linger(self, seconds: float) -> None:
        """Leave the screen as it is for a viewer to read."""
        time.sleep(seconds * self.pace)

    def wait(self, term: PtyTerminal, *texts: str) -> None:
        try:
            term.wait_for_text(*texts, timeout=self.timeout)
        except Exception as exc:
            raise TourError(str(exc)) from None

    # -- the tour ----------------------------------------------------------------------
    def run(self) -> None:
        self.onboard_automatically()
        self.manual_error_and_fix()
        self.dashboard()

    def onboard_automatically(self) -> None:
        def drive(term: PtyTerminal) -> None:
            self.wait(term, "Automatic", f"127.0.0.1:{self.port}")
            self.linger(1.0)
            term.press("a")
            self.wait(term, "CWE5QHLNM", "c copies it")
            self.linger(1.2)
            term.press("c")
            self.wait(term, "Code copied")
            self.wait(term, "Connected")
            self.linger(1.5)
            term.press("enter")
            self.wait(term, "Select the service")
            self.linger(1.2)
            term.press("n")
            self.wait(term, "Summary", "Finish")
            self.linger(2.0)
            term.press("f")

        approve = f"{max(1.0, 4 * self.pace):g}"
        self.program("vdc-tui --demo", ["--demo", "--demo-port", str(self.port),
                                        "--demo-approve-after", approve], drive)

    def manual_error_and_fix(self) -> None:
        from vdc_tui.demo import demo_facts

        facts = demo_facts()
        assert facts.pfx_path and facts.manual_app_id and facts.pfx_password is not None
        pfx = self.home / PFX_IN_HOME
        pfx.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(facts.pfx_path, pfx)
        args = ["connect", "manual", "--demo", "--demo-port", str(self.port),
                "--admin-email", facts.admin_email, "--app-id", facts.manual_app_id,
                "--pfx", str(PFX_IN_HOME), "--pfx-password-env", "PFX_PASSWORD"]
        shown = (f"vdc-tui connect manual --demo --admin-email {facts.admin_email} "
                 f"--app-id {facts.manual_app_id} --pfx {PFX_IN_HOME} "
                 "--pfx-password-env PFX_PASSWORD")

        def wrong(term: PtyTerminal) -> None:
            self.wait(term, "pfx_wrong_password")

        def right(term: PtyTerminal) -> None:
            self.wait(term, "Profile saved")

        self.program(f"PFX_PASSWORD={WRONG_PASSWORD} {shown}", args, wrong,
                     PFX_PASSWORD=WRONG_PASSWORD)
        self.cast.write("\x1b[2m# the password was mistyped: the same command with the "
                        "right one\x1b[0m\r\n", after=0.6)
        self.program(f"PFX_PASSWORD={facts.pfx_password} {shown}", args, right,
                     PFX_PASSWORD=facts.pfx_password)

    def dashboard(self) -> None:
        def pick(term: PtyTerminal, name: str) -> None:
            term.press("/")
            self.linger(0.4)
            for ch in name:
                term.press(ch)
                self.linger(0.06)
            term.press("enter")
            term.wait_for(lambda s: "Northwind" not in s and name in s, self.timeout,
                          f"the table filtered to {name}")
            self.linger(1.0)

        def back_to_all(term: PtyTerminal, name: str) -> None:
            """Enter leaves the action's screen; the row is healthy; Esc clears the filter."""
            term.press("enter")
            term.wait_for(lambda s: any(name in line and "healthy" in line
                                        for line in s.splitlines()), self.timeout,
                          f"{name} healthy on the dashboard")
            self.linger(1.5)
            term.press("escape")
            term.wait_for(lambda s: "Northwind" in s, self.timeout, "every row again")
            self.linger(1.0)

        def drive(term: PtyTerminal) -> float:
            self.wait(term, "DEMO", "Wide World Importer")
            self.linger(1.5)
            term.press("C")
            self.wait(term, "4 broken · 4 warning · 6 healthy")
            self.linger(3.0)
            pick(term, "Tailspin")
            term.press("r")
            self.wait(term, "Renewed", "Press Enter")
            self.linger(2.5)
            back_to_all(term, "Tailspin")
            pick(term, "Proseware")
            term.press("p")
            self.wait(term, FINAL_TEXT, "admin@proseware.onmicrosoft.com")
            self.linger(2.5)
            back_to_all(term, "Proseware")
            self.linger(1.5)
            end = time.monotonic()
            term.press("ctrl+q")  # not recorded: the tour ends on the dashboard
            return end

        self.program("vdc-tui connections --demo", ["connections", "--demo", "--demo-port",
                                                    str(self.port)], drive)


# -- the animated SVG ----------------------------------------------------------------------

#: The xterm palette of pyte's colour names (the dark theme the program picks by default).
_NAMED = {
    "black": "000000", "red": "cd3131", "green": "0dbc79", "brown": "e5e510",
    "blue": "2472c8", "magenta": "bc3fbc", "cyan": "11a8cd", "white": "e5e5e5",
    "brightblack": "666666", "brightred": "f14c4c", "brightgreen": "23d18b",
    "brightbrown": "f5f543", "brightblue": "3b8eea", "brightmagenta": "d670d6",
    "brightcyan": "29b8db", "brightwhite": "ffffff",
}
FG, BG = "e5e5e5", "1e1e1e"
CELL_W, CELL_H, FONT = 8.4, 17, 14


def _colour(value: str, default: str) -> str:
    if value == "default":
        return default
    if value in _NAMED:
        return _NAMED[value]
    return value if len(value) == 6 else default


#: Sequences pyte does not know and would print as text (keyboard-protocol requests).
_UNKNOWN = re.compile(r"\x1b\[[<>=][0-9;]*[a-zA-Z]")
#: The alternate screen on and off (pyte has one screen; a terminal keeps the shell's).
_ALTERNATE = re.compile(r"(\x1b\[\?(?:1049|47|1047)[hl])")


class _Terminal:
    """pyte's screen, plus the alternate screen full-screen programs draw on."""

    def __init__(self) -> None:
        self.main = pyte.Screen(COLS, ROWS)
        self.alternate = pyte.Screen(COLS, ROWS)
        self.streams = {id(s): pyte.Stream(s) for s in (self.main, self.alternate)}
        self.active = self.main

    def feed(self, text: str) -> None:
        for piece in _ALTERNATE.split(_UNKNOWN.sub("", text)):
            if _ALTERNATE.fullmatch(piece):
                if piece.endswith("h"):
                    self.alternate.reset()
                    self.active = self.alternate
                else:
                    self.active = self.main
            elif piece:
                self.streams[id(self.active)].feed(piece)


#: One screen: rows of pyte's characters.
Grid = list[list[Any]]


def frames(cast: Cast, *, still: float = 0.35, hold: float = 4.0) -> list[tuple[float, Grid]]:
    """The screen at each still moment of the cast (no write for ``still`` seconds), with
    how long it stays; the last one is held ``hold`` seconds."""
    terminal = _Terminal()
    out: list[tuple[float, Grid]] = []
    events = cast.events
    for i, (t, text) in enumerate(events):
        terminal.feed(text)
        screen = terminal.active
        following = events[i + 1][0] if i + 1 < len(events) else t + hold
        if following - t < still and i + 1 < len(events):
            continue
        snapshot = [[screen.buffer[y][x] for x in range(COLS)] for y in range(ROWS)]
        if out and _same(out[-1][1], snapshot):
            out[-1] = (out[-1][0] + following - t, out[-1][1])
        else:
            out.append((following - t, snapshot))
    return out


def _same(a: Grid, b: Grid) -> bool:
    return all(ca == cb for ra, rb in zip(a, b, strict=True) for ca, cb in zip(ra, rb,
                                                                            strict=True))


#: Text between runs of two or more spaces.
_WORDS = re.compile(r"\S+(?: \S+)*")


def _frame_svg(rows: Grid, top: float) -> list[str]:
    parts: list[str] = []
    for y, row in enumerate(rows):
        x = 0
        while x < COLS:
            char = row[x]
            fg, bg = _colour(char.fg, FG), _colour(char.bg, BG)
            if char.reverse:
                fg, bg = bg, fg
            start = x
            text = []
            while x < COLS:
                c = row[x]
                cfg, cbg = _colour(c.fg, FG), _colour(c.bg, BG)
                if c.reverse:
                    cfg, cbg = cbg, cfg
                if (cfg, cbg, c.bold) != (fg, bg, char.bold):
                    break
                text.append(c.data or " ")
                x += 1
            y0 = top + y * CELL_H
            if bg != BG:
                parts.append(f'<rect x="{start * CELL_W:.1f}" y="{y0}" '
                             f'width="{len(text) * CELL_W:.1f}" height="{CELL_H}" '
                             f'fill="#{bg}"/>')
            weight = ' font-weight="bold"' if char.bold else ""
            # One text per word group: runs of spaces are positions, never glyphs to lay out.
            for found in _WORDS.finditer("".join(text)):
                words = found.group(0)
                parts.append(
                    f'<text x="{(start + found.start()) * CELL_W:.1f}" y="{y0 + CELL_H - 4}" '
                    f'fill="#{fg}"{weight} textLength="{len(words) * CELL_W:.1f}" '
                    f'lengthAdjust="spacingAndGlyphs">{html.escape(words)}</text>')
    return parts


def render_svg(cast: Cast) -> str:
    """An SVG that plays the cast's still moments in a loop (CSS steps, no script)."""
    shots = frames(cast)
    width, height = COLS * CELL_W, ROWS * CELL_H
    total = sum(d for d, _ in shots)
    keys: list[str] = []
    body: list[str] = []
    at = 0.0
    for i, (duration, rows) in enumerate(shots):
        keys.append(f"{100 * at / total:.3f}%{{transform:translateY({-i * height:.0f}px)}}")
        body.append(f'<g transform="translate(0 {i * height:.0f})">')
        body += _frame_svg(rows, 0)
        body.append("</g>")
        at += duration
    style = (f"#strip{{animation:play {total:.2f}s steps(1,end) infinite}}"
             f"@keyframes play{{{''.join(keys)}}}"
             "text{font-family:'DejaVu Sans Mono','Cascadia Mono',Menlo,Consolas,monospace;"
             f"font-size:{FONT}px;white-space:pre}}")
    pad = 6
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 2 * pad:.0f}" '
        f'height="{height + 2 * pad:.0f}" viewBox="0 0 {width + 2 * pad:.0f} '
        f'{height + 2 * pad:.0f}" xml:space="preserve" role="img" '
        'aria-label="vdc-tui demo tour: onboarding, a manual-mode error and its fix, the '
        'fleet dashboard, a renewal and a repair">',
        f"<style>{style}</style>",
        f'<defs><clipPath id="screen"><rect width="{width:.0f}" height="{height:.0f}"/>'
        "</clipPath></defs>",
        f'<rect width="100%" height="100%" rx="6" fill="#{BG}"/>',
        f'<g transform="translate({pad} {pad})"><g clip-path="url(#screen)">',
        '<g id="strip">', *body, "</g></g></g>", "</svg>", ""])


# -- the command ---------------------------------------------------------------------------

def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the emulator binds: a port left in TIME_WAIT by the last run is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def record(out: Path, *, port: int = DEMO_PORT, scratch: Path | None = None,
           pace: float = 1.0) -> Tour:
    """Record the tour into ``out`` (``demo.cast``, ``demo.svg``); returns the tour.

    Raises:
        TourError: the port is taken, or a screen of the tour did not come.
    """
    if not port_is_free(port):
        raise TourError(f"port {port} is in use: the recording needs its fixed address "
                        "(stop the other demo, give --port, or record in a network "
                        "namespace of its own: unshare -rn sh -c 'ip link set lo up && "
                        "make record')")
    folder = scratch or Path(tempfile.gettempdir()) / "vdc-tui-recording"
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "home").mkdir(parents=True, mode=0o700)
    tour = Tour(folder, port, pace=pace)
    try:
        tour.run()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo.cast").write_text("\n".join(tour.cast.lines()) + "\n", encoding="utf-8")
    (out / "demo.svg").write_text(render_svg(tour.cast), encoding="utf-8")
    return tour


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots",
                        help="folder for demo.cast and demo.svg (default: screenshots/)")
    parser.add_argument("--port", type=int, default=DEMO_PORT,
                        help=f"the demo emulator's port (default: {DEMO_PORT})")
    args = parser.parse_args(argv)
    try:
        tour = record(args.out, port=args.port)
    except TourError as exc:
        print(f"record_demo: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out / 'demo.cast'} ({len(tour.cast.events)} events, "
          f"{tour.cast.clock:.0f} s) and {args.out / 'demo.svg'}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
