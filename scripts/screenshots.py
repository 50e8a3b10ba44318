"""Regenerate the SVG screenshots of the README and the guide from a headless demo run.

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--size 100x30]

The wizard runs in demo mode against the built-in emulator (offline, the demo tenant) on
its fixed demo port, driven by key presses as an operator would; each screen is saved as
``NN-name.svg``. The run has a throw-away home folder (``HOME`` and ``VDC_TUI_HOME`` inside
it) and the manual screens use a copy of the demo PFX in ``~/Downloads``, so no path of the
machine that made the pictures appears in them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from vdc_tui.connect.microsoft.clouds import server_endpoints

#: Where the manual screens find the certificate (under the throw-away home folder).
PFX_IN_HOME = Path("Downloads") / "contoso-vdc.pfx"


async def _until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not reach the expected screen")
        await pilot.pause(0.05)


def _svg(app: object, title: str) -> str:
    """The app's screenshot, with spaces kept as they are on a terminal.

    Textual writes spaces as no-break spaces; some SVG renderers (librsvg, used by many
    previewers) still drop them at the start of a text run, which glues words together.
    ``xml:space="preserve"`` makes every renderer keep them.
    """
    svg: str = app.export_screenshot(title=title)  # type: ignore[attr-defined]
    return svg.replace("<svg ", '<svg xml:space="preserve" ', 1)


async def capture(out: Path, size: tuple[int, int]) -> list[Path]:
    """Run the demo and save one SVG per screen; returns the files written.

    Call it with ``HOME`` pointing at a throw-away folder (``main`` does).
    """
    from vdc_tui.app import VdcApp, make_app
    from vdc_tui.cli.demo import demo_facts, demo_home
    from vdc_tui.connect.service import ConnectSettings
    from vdc_tui.connect.store.keystore import PassphraseProvider
    from vdc_tui.settings import DEFAULT_DEMO_PORT, AppSettings

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    facts = demo_facts()
    assert facts.pfx_path and facts.manual_app_id and facts.pfx_password is not None
    pfx = Path.home() / PFX_IN_HOME
    pfx.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(facts.pfx_path, pfx)

    def settings(approve_after: float | None) -> AppSettings:
        # As `vdc-tui --demo --tenant-name Contoso` builds them.
        return AppSettings(demo=True, demo_approve_after=approve_after, tenant_name="Contoso",
                           demo_port=DEFAULT_DEMO_PORT,
                           connect=ConnectSettings(home=demo_home(),
                                                   key_passphrase=PassphraseProvider.demo()))

    def shot(app: VdcApp, name: str) -> None:
        path = out / f"{len(written) + 1:02d}-{name}.svg"
        path.write_text(_svg(app, f"vdc-tui — {name}"), encoding="utf-8")
        written.append(path)

    def on(app: VdcApp, name: str) -> Callable[[], bool]:
        return lambda: type(app.screen).__name__ == name

    async def demo_started(pilot: Pilot[Any], app: VdcApp) -> None:
        await _until(pilot, lambda: "https://" in app.demo_status)
        if "busy" in app.demo_status:
            raise RuntimeError(f"port {DEFAULT_DEMO_PORT} is taken (another demo running?); "
                               "the screenshots would show another address")

    # Automatic mode: the emulator approves the code after a few seconds.
    app = make_app(settings(3.0))
    async with app.run_test(size=size) as pilot:
        await demo_started(pilot, app)
        await pilot.pause()
        shot(app, "mode")
        await pilot.press("f1")
        await _until(pilot, on(app, "HelpScreen"))
        shot(app, "help")
        await pilot.press("escape", "a")

        def waiting() -> bool:
            return on(app, "DeviceCodeScreen")() and "Waiting" in str(
                app.screen.query_one("#device-status").render())

        await _until(pilot, waiting)
        shot(app, "device-code")
        await _until(pilot, on(app, "ProvisioningScreen"))
        await pilot.pause(0.3)
        shot(app, "provisioning")
        await _until(pilot, on(app, "ConnectedDialog"))
        await pilot.pause()
        shot(app, "connected")
        await pilot.press("enter")
        await _until(pilot, on(app, "ServicesScreen"))
        shot(app, "services")
        await pilot.press("n")
        await _until(pilot, on(app, "SummaryScreen"))
        shot(app, "summary")
        await pilot.press("ctrl+q")
        await pilot.press("y")

    # Manual mode with the demo scenario's app registration and the PFX in ~/Downloads,
    # typed as an operator would; first with a wrong password.
    app = make_app(settings(None))
    async with app.run_test(size=size) as pilot:
        await demo_started(pilot, app)
        await pilot.press("m")
        await _until(pilot, on(app, "ManualModeNotice"))
        shot(app, "manual-notice")
        await pilot.press("i")
        await _until(pilot, on(app, "ManualScreen"))
        await pilot.press(*facts.admin_email, "enter", *facts.manual_app_id, "enter",
                          *f"~/{PFX_IN_HOME.as_posix()}", "enter", *"wrong", "enter")
        await _until(pilot, lambda: bool(app.screen.query_one("#pfx_password-error").display))
        await pilot.pause()
        shot(app, "manual-error")
        await pilot.press("ctrl+q")
    written += await capture_dashboard(out, size, first=len(written) + 1)
    return written


async def capture_dashboard(out: Path, size: tuple[int, int], *, first: int) -> list[Path]:
    """The fleet dashboard on a fleet with one connection broken in each way (emulator).

    Every tenant of ``vdc_tui.emulator.fleet`` gets a saved profile, the dashboard checks
    them all (``C``), and the worst one's details are opened; then the offboard
    confirmation (``x``) and the export dialog (``e``) of the healthy one.
    """
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the bench package
    from bench.fleet import save_profiles
    from vdc_tui.dashboard import DashboardApp
    from vdc_tui.emulator import EmulatorServer
    from vdc_tui.emulator.fleet import KINDS, write_fleet

    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="vdc-tui-fleet-") as tmp:
        files = write_fleet(Path(tmp) / "fleet", list(KINDS))
        # The fleet's keys are saved encrypted, under the public demo passphrase.
        from vdc_tui.connect.store.keystore import PassphraseProvider

        store = save_profiles(files.manifest, Path(os.environ["VDC_TUI_HOME"]),
                              passphrase=PassphraseProvider.demo())
        with EmulatorServer(str(files.scenario)) as emu:
            app = DashboardApp(store, server_endpoints(emu))
            async with app.run_test(size=size) as pilot:
                await pilot.pause()
                await pilot.press("C")
                screen: Any = app.screen
                await _until(pilot, lambda: len(screen.results) == len(KINDS)
                             and not screen._checking)
                await pilot.pause(0.3)
                for name in ("dashboard", "dashboard-detail"):
                    path = out / f"{first + len(written):02d}-{name}.svg"
                    if name == "dashboard-detail":
                        # The worst connection: the top row.
                        from textual.widgets import DataTable

                        app.screen.query_one("#dashboard-table", DataTable).move_cursor(row=0)
                        await pilot.pause()
                        await pilot.press("enter")
                        await _until(pilot, lambda: type(app.screen).__name__
                                     == "HealthDetailScreen")
                        await pilot.pause(0.3)
                    path.write_text(_svg(app, f"vdc-tui — {name}"), encoding="utf-8")
                    written.append(path)
                # The actions on the healthy tenant: the offboard confirmation and export.
                await pilot.press("escape")
                await _until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
                from textual.widgets import DataTable

                table = app.screen.query_one("#dashboard-table", DataTable)
                table.move_cursor(row=table.row_count - 1)
                await pilot.pause()
                for name, key, screen_class in (("dashboard-offboard", "x", "OffboardDialog"),
                                                ("dashboard-export", "e", "ExportScreen")):
                    await pilot.press(key)
                    await _until(pilot, lambda cls=screen_class: type(app.screen).__name__
                                 == cls)
                    await pilot.pause(0.3)
                    path = out / f"{first + len(written):02d}-{name}.svg"
                    path.write_text(_svg(app, f"vdc-tui — {name}"), encoding="utf-8")
                    written.append(path)
                    await pilot.press("escape")
                    await _until(pilot, lambda: type(app.screen).__name__ == "DashboardScreen")
                await pilot.press("ctrl+q")
    return written


def main() -> None:
    """Command line of the script."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--size", default="100x30", help="terminal size, WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    out = args.out.resolve()
    with tempfile.TemporaryDirectory(prefix="vdc-tui-shots-") as home:
        # Read lazily by the wizard (Path.home(), vdc_home()), so setting them here is enough.
        os.environ["HOME"] = home
        os.environ["VDC_TUI_HOME"] = str(Path(home) / ".local" / "share" / "vdc-tui")
        for path in asyncio.run(capture(out, (width, height))):
            print(path)


if __name__ == "__main__":
    main()
