"""Regenerate the README's SVG screenshots from a headless demo run.

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--size 100x30]

The wizard runs in demo mode against the built-in emulator (offline, the demo tenant),
driven by key presses as an operator would; each screen is saved as ``NN-name.svg``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from vdc_tui.app import VdcApp, make_app
from vdc_tui.connect.service import ConnectSettings
from vdc_tui.settings import AppSettings

DEMO_PFX = Path(__file__).resolve().parents[1] / "vdc_tui/emulator/scenarios/demo-manual-app.pfx"


async def _until(pilot: Pilot[object], condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not reach the expected screen")
        await pilot.pause(0.05)


def _on(app: VdcApp, name: str) -> Callable[[], bool]:
    return lambda: type(app.screen).__name__ == name


async def capture(out: Path, size: tuple[int, int]) -> list[Path]:
    """Run the demo and save one SVG per screen; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    home = Path(tempfile.mkdtemp(prefix="vdc-tui-shots-"))

    def shot(app: VdcApp, name: str) -> None:
        path = out / f"{len(written) + 1:02d}-{name}.svg"
        path.write_text(app.export_screenshot(title=f"vdc-tui — {name}"), encoding="utf-8")
        written.append(path)

    # Automatic mode: the emulator approves the code after a few seconds.
    app = make_app(AppSettings(demo=True, demo_approve_after=3.0, tenant_name="Contoso",
                               connect=ConnectSettings(home=home)))
    async with app.run_test(size=size) as pilot:
        await _until(pilot, lambda: "https://" in app.demo_status)
        await pilot.pause()
        shot(app, "mode")
        await pilot.press("f1")
        await _until(pilot, _on(app, "HelpScreen"))
        shot(app, "help")
        await pilot.press("escape", "a")
        await _until(pilot, lambda: "Waiting" in str(app.screen.query_one("#device-status")
                                                      .render()) if _on(app, "DeviceCodeScreen")()
                     else False)
        shot(app, "device-code")
        await _until(pilot, _on(app, "ProvisioningScreen"))
        await pilot.pause(0.3)
        shot(app, "provisioning")
        await _until(pilot, _on(app, "ConnectedDialog"))
        await pilot.pause()
        shot(app, "connected")
        await pilot.press("enter")
        await _until(pilot, _on(app, "ServicesScreen"))
        shot(app, "services")
        await pilot.press("n")
        await _until(pilot, _on(app, "SummaryScreen"))
        shot(app, "summary")
        await pilot.press("ctrl+q")
        await pilot.press("y")

    # Manual mode with the demo scenario's app registration and PFX.
    app = make_app(AppSettings(demo=True, demo_approve_after=None, tenant_name="Contoso",
                               connect=ConnectSettings(home=home)))
    async with app.run_test(size=size) as pilot:
        await _until(pilot, lambda: "https://" in app.demo_status)
        await pilot.press("m")
        await _until(pilot, _on(app, "ManualModeNotice"))
        shot(app, "manual-notice")
        await pilot.press("i")
        await _until(pilot, _on(app, "ManualScreen"))
        screen = app.screen
        screen.query_one("#admin_email", Input).value = "admin@contoso.com"
        screen.query_one("#app_id", Input).value = "6b1c7e52-3f0a-4d8e-b5a9-0e4f2c7d9a13"
        screen.query_one("#pfx_path", Input).value = str(DEMO_PFX)
        screen.query_one("#pfx_password", Input).focus()
        await pilot.press(*"wrong", "enter")
        await _until(pilot, lambda: bool(screen.query_one("#pfx_password-error").display))
        await pilot.pause()
        shot(app, "manual-error")
        await pilot.press("ctrl+q")
    return written


def main() -> None:
    """Command line of the script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--size", default="100x30", help="terminal size, WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    for path in asyncio.run(capture(args.out, (width, height))):
        print(path)


if __name__ == "__main__":
    main()
