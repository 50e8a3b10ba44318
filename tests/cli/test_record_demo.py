"""``scripts/record_demo.py`` still reaches the end of the tour and writes both files.

Not the pixels: the cast is a valid asciicast v2 recording that shows each step of the
tour and ends on the dashboard; the SVG is well-formed and animates several frames.
"""

from __future__ import annotations

import json
import socket
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from scripts.record_demo import FINAL_TEXT, Cast, frames, record


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_recording_reaches_the_end_of_the_tour(tmp_path: Path) -> None:
    started = time.monotonic()
    tour = record(tmp_path / "out", port=_free_port(), scratch=tmp_path / "scratch",
                  pace=0.15)
    assert time.monotonic() - started < 120
    lines = (tmp_path / "out" / "demo.cast").read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2 and (header["width"], header["height"]) == (80, 24)
    events = [json.loads(line) for line in lines[1:]]
    assert all(kind == "o" for _, kind, _ in events)
    times = [t for t, _, _ in events]
    assert times == sorted(times)
    cast = Cast(events=[(t, data) for t, _, data in events])
    # Every screen the cast shows, as a viewer's terminal draws it.
    shown = ["\n".join("".join(c.data for c in row) for row in grid)
             for _, grid in frames(cast, still=0.0)]
    seen = "\n".join(shown)
    for step in ("CWE5QHLNM", "Code copied", "pfx_wrong_password", "Connected: Contoso Ltd",
                 "Renewed", FINAL_TEXT, "admin@proseware.onmicrosoft.com"):
        assert step in seen, step
    # It ends on the dashboard, not on the shell the dashboard gave back.
    assert "DEMO" in shown[-1] and "Connections" in shown[-1] and "Northwind" in shown[-1]
    assert "DEMO" in tour.screens[-1]
    svg = ET.parse(tmp_path / "out" / "demo.svg").getroot()
    strip = svg.find(".//{http://www.w3.org/2000/svg}g[@id='strip']")
    assert strip is not None and len(strip) >= 10
    assert not (tmp_path / "scratch").exists()  # the throw-away home is gone
    for written in ("demo.cast", "demo.svg"):  # shown as ~, never as a path of the machine
        assert str(tmp_path) not in (tmp_path / "out" / written).read_text(encoding="utf-8")
