"""The fleet dashboard: every saved connection, worst first, checked on demand.

Keys (the footer and F1 list them): Enter details, ``c`` check the selected tenant, ``C``
check every tenant, ``/`` (or any other letter) filters, Esc clears the filter, ``n``
starts the onboarding wizard for a new tenant. On the selected tenant: ``e`` exports its
key as a PFX for the backup service, ``r`` renews its certificate, ``p`` repairs its
permissions and ``x`` offboards it (the last two after a Global Administrator's sign-in).

Adding an action on a tenant is one method of :class:`~.tenant_actions.TenantActions`
(which both this screen and the detail screen start), one :class:`Binding` in
:attr:`DashboardScreen.BINDINGS` with its ``action_*`` method, and one in
:attr:`~.health_detail.HealthDetailScreen.BINDINGS`. The screen gets what it needs from its
app as a :class:`~.tenant_actions.FleetContext` and never reaches for the app's attributes;
the work is in ``vdc_tui.connect``, and what a row shows (columns, cells, order, filter) in
:mod:`.fleet_rows`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.events import Key
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from vdc_tui.connect.errors import VdcError, scrub
from vdc_tui.screens.base import WizardScreen
from vdc_tui.screens.fleet_rows import (
    BASE_WIDTHS,
    COLUMNS,
    FRAME_WIDTH,
    Cell,
    matches,
    row_cells,
    sort_key,
)
from vdc_tui.screens.tenant_actions import FleetContext, TenantActions

if TYPE_CHECKING:
    from vdc_tui.connect.fleet.health import FleetProgress, TenantHealth
    from vdc_tui.connect.store.profiles import ProfileEntry

_CHECK_KEYS = Binding.Group("Check")


class DashboardScreen(WizardScreen[str | None]):
    """Every saved connection in a table; returns ``"new"`` when ``n`` asks for the wizard."""

    #: The table has the focus from the first frame (so the footer shows its keys at once).
    AUTO_FOCUS = "#dashboard-table"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "details", "Details", id="dashboard.details",
                tooltip="Every check of the selected tenant, with its fix"),
        # c and C share one footer entry ("c C Check"): the footer must fit 80 columns.
        Binding("c", "check_selected", "Check", id="dashboard.check", group=_CHECK_KEYS,
                tooltip="Check the selected tenant now"),
        Binding("C", "check_all", "Check all", id="dashboard.check_all", key_display="C",
                group=_CHECK_KEYS,
                tooltip="Check every tenant (a bounded number at a time)"),
        # Not in the footer (the filter line says "Type to filter"); F1 lists it.
        Binding("slash", "filter", "Filter", id="dashboard.filter", key_display="/", show=False,
                tooltip="Filter by tenant, domain or health (typing a letter does too)"),
        Binding("n", "new_connection", "New", id="dashboard.new",
                tooltip="Connect a new tenant (the onboarding wizard)"),
        Binding("e", "export", "Export", id="dashboard.export",
                tooltip="Write the selected connection's key as a password-protected PFX "
                        "for the backup service's manual connection form"),
        Binding("r", "renew", "Renew", id="dashboard.renew",
                tooltip="Roll the selected connection's certificate (no admin needed)"),
        Binding("p", "repair", "Repair", id="dashboard.repair",
                tooltip="A Global Admin signs in once: what is missing is granted, the "
                        "certificate put back on the app (or replaced when expired), a "
                        "deleted app restored; the app id stays"),
        Binding("x", "offboard", "Offboard", id="dashboard.offboard",
                tooltip="Delete the app registration in the tenant, then the local profile "
                        "and key (asks first; a Global Admin signs in)"),
        Binding("escape", "clear_filter", "Clear filter", id="dashboard.clear", show=False,
                tooltip="Clear the filter"),
    ]

    def __init__(
        self,
        entries: Sequence[ProfileEntry],
        results: dict[str, TenantHealth],
        context: FleetContext,
    ) -> None:
        """Create the dashboard.

        Args:
            entries: The saved connections.
            results: The last result of each tenant that has one.
            context: The store, service, checker, clock and passphrase prompt of the app.
        """
        super().__init__(id="dashboard")
        self.entries = {e.tenant_id: e for e in entries}
        self.results = dict(results)
        self.context = context
        self.clock = context.clock
        #: Export, renew, repair and offboard (the detail screen starts them here too).
        self.actions = TenantActions(context, self, self)
        self._checking: set[str] = set()
        self._filter = ""
        self._progress = ""
        self._redirecting = False
        self._generation = 0

    # -- layout ---------------------------------------------------------------------------

    def compose_body(self) -> Iterable[Widget]:
        """Filter line, the table and the status line."""
        with Vertical(classes="body", id="dashboard-body"):
            yield Input(placeholder="Type to filter (tenant, domain, health)…",
                        id="dashboard-filter", compact=True, select_on_focus=False)
            table: DataTable[Cell] = DataTable(id="dashboard-table", cursor_type="row",
                                               zebra_stripes=True)
            yield table
            yield Static("", id="dashboard-status", markup=False)

    def on_mount(self) -> None:
        """Fill the table, focus it."""
        table = self.query_one("#dashboard-table", DataTable)
        widths = self._widths(self.app.size.width)
        for key, label in COLUMNS:
            # Text, not a str: a str label is parsed as markup, and its emoji lookup alone
            # imports Rich's table of emoji names (~2.5 ms before the first frame).
            table.add_column(Text(label), key=key, width=widths[key])
        self._fill()
        table.focus()

    @staticmethod
    def _widths(total: int) -> dict[str, int]:
        widths = dict(BASE_WIDTHS)
        extra = max(0, total - FRAME_WIDTH - sum(widths.values()))
        # The domain catches up with the name first (from 88 columns both are as wide).
        catch_up = min(extra, widths["tenant"] - widths["domain"])
        widths["domain"] += catch_up
        extra -= catch_up
        widths["tenant"] += extra - extra // 2
        widths["domain"] += extra // 2
        return widths

    def on_resize(self) -> None:
        """Tenant and domain columns take the width the terminal has."""
        table = self.query_one("#dashboard-table", DataTable)
        widths = self._widths(self.app.size.width)
        changed = False
        for key, column in table.columns.items():
            wanted = widths.get(str(key.value), column.width)
            if column.width != wanted:
                column.width = wanted
                changed = True
        if changed:
            table.refresh(layout=True)
            self._fill()

    # -- the table --------------------------------------------------------------------------

    def _visible(self) -> list[ProfileEntry]:
        chosen = [e for e in self.entries.values()
                  if matches(e, self.results.get(e.tenant_id), self._filter)]
        return sorted(chosen, key=lambda e: sort_key(e, self.results.get(e.tenant_id)))

    def _fill(self) -> None:
        """Rebuild the rows (worst first), keeping the cursor on the same tenant.

        As many rows as the terminal has lines (more than the table shows) are added at
        once; the rest follow once the first frame is on the terminal (later: after the
        refresh), so 500 connections open as fast as a few: DataTable measures every cell
        of every row it is given, and renders again when its scroll bar changes.
        """
        table = self.query_one("#dashboard-table", DataTable)
        selected = self.selected_tenant()
        self._generation += 1
        table.clear()
        visible = self._visible()
        first = max(1, self.app.size.height)
        self._add_rows(visible[:first], selected)
        if len(visible) > first:
            self.context.after_first_frame(partial(
                self._add_later, visible[first:], selected, self._generation))
        self._status()

    def take_full_records(self, entries: Sequence[ProfileEntry],
                          results: dict[str, TenantHealth],
                          first_entries: dict[str, ProfileEntry],
                          first_results: dict[str, TenantHealth]) -> None:
        """The full records read after the first frame replace what it was drawn from
        (the index's summaries), except where the screen changed a tenant meanwhile."""
        def drawn(tid: str) -> tuple[object, ...]:
            entry, result = self.entries.get(tid), self.results.get(tid)
            return (entry is None, entry and entry.name, entry and entry.default_domain,
                    entry and entry.mode,
                    result and (result.health, result.unreachable, result.days_left,
                                len(result.missing), result.checked_at))

        full = {e.tenant_id: e for e in entries}
        before = {tid: drawn(tid) for tid in self.entries.keys() | full.keys()}
        for tid, entry in full.items():
            if tid not in self.entries or self.entries[tid] is first_entries.get(tid):
                self.entries[tid] = entry
            if tid in results and self.results.get(tid) is first_results.get(tid):
                self.results[tid] = results[tid]
        for tid in [t for t in self.entries if t not in full and t in first_entries]:
            self.entries.pop(tid)  # removed by another run meanwhile
        if any(drawn(tid) != shown for tid, shown in before.items()):
            self._fill()  # a file changed since the first frame read it

    def _add_later(self, entries: list[ProfileEntry], selected: str | None,
                   generation: int) -> None:
        if generation == self._generation:  # not replaced by a newer fill meanwhile
            self._add_rows(entries, selected)
            self._status()

    def _add_rows(self, entries: list[ProfileEntry], selected: str | None) -> None:
        table = self.query_one("#dashboard-table", DataTable)
        now = self.clock()
        for entry in entries:
            table.add_row(*row_cells(entry, self.results.get(entry.tenant_id), now,
                                     checking=entry.tenant_id in self._checking),
                          key=entry.tenant_id)
            if entry.tenant_id == selected:
                table.move_cursor(row=table.row_count - 1)

    def _update_row(self, tenant_id: str) -> None:
        table = self.query_one("#dashboard-table", DataTable)
        entry = self.entries[tenant_id]
        cells = row_cells(entry, self.results.get(tenant_id), self.clock(),
                          checking=tenant_id in self._checking)
        try:
            for (key, _label), cell in zip(COLUMNS, cells, strict=True):
                table.update_cell(tenant_id, key, cell)
        except Exception:  # the row is filtered out: nothing to update
            return

    def _status(self) -> None:
        counts = {k: 0 for k in ("broken", "warning", "healthy", "unchecked")}
        for tid in self.entries:
            result = self.results.get(tid)
            counts["unchecked" if result is None else result.health] += 1
        shown = self.query_one("#dashboard-table", DataTable).row_count
        parts = [f"{len(self.entries)} connections", f"{counts['broken']} broken",
                 f"{counts['warning']} warning", f"{counts['healthy']} healthy"]
        if counts["unchecked"]:
            parts.append(f"{counts['unchecked']} never checked")
        if self._filter:
            parts.append(f"{shown} shown")
        text = " · ".join(parts)
        if self._progress:
            text = f"{self._progress}   {text}"
        self.query_one("#dashboard-status", Static).update(text)

    def selected_tenant(self) -> str | None:
        """The tenant id of the row under the cursor."""
        table = self.query_one("#dashboard-table", DataTable)
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def selected_entry(self) -> ProfileEntry | None:
        """The saved connection under the cursor."""
        tid = self.selected_tenant()
        return self.entries.get(tid) if tid else None

    # -- filter ---------------------------------------------------------------------------

    @on(Input.Changed, "#dashboard-filter")
    def _filtered(self, event: Input.Changed) -> None:
        self._filter = event.value.strip()
        self._fill()

    @on(Input.Submitted, "#dashboard-filter")
    def _filter_done(self) -> None:
        self.query_one("#dashboard-table", DataTable).focus()

    def on_key(self, event: Key) -> None:
        """Typing a letter that is not a key of the screen starts the filter with it."""
        table = self.query_one("#dashboard-table", DataTable)
        if self.focused is not table or not event.is_printable or not event.character:
            return
        # Keys typed before the filter has taken the focus belong to the filter too.
        if not self._redirecting and event.character in self._bound_characters():
            return
        self._redirecting = True
        event.stop()
        event.prevent_default()
        box = self.query_one("#dashboard-filter", Input)
        box.value = box.value + event.character
        box.cursor_position = len(box.value)
        box.focus()

    def on_descendant_focus(self) -> None:
        """Once the filter (or anything else) has the focus, letters are keys again."""
        self._redirecting = False

    def _bound_characters(self) -> set[str]:
        """Characters that are keys of this screen (or help), never filter text."""
        keys = {"?", "/"}
        for binding in self.BINDINGS:
            if isinstance(binding, Binding):
                keys.update(k.strip() for k in binding.key.split(","))
        return keys

    def action_filter(self) -> None:
        """Put the cursor in the filter."""
        self.query_one("#dashboard-filter", Input).focus()

    def action_clear_filter(self) -> None:
        """Clear the filter and go back to the table."""
        box = self.query_one("#dashboard-filter", Input)
        box.value = ""
        self.query_one("#dashboard-table", DataTable).focus()

    # -- actions --------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#dashboard-table")
    def _row_chosen(self) -> None:
        self.action_details()

    def action_details(self) -> None:
        """Open the selected tenant's details."""
        from vdc_tui.screens.health_detail import HealthDetailScreen

        entry = self.selected_entry()
        if entry is None:
            return
        self.app.push_screen(HealthDetailScreen(self, self.context, entry, self.actions))

    def action_check_selected(self) -> None:
        """Check the tenant under the cursor."""
        tid = self.selected_tenant()
        if tid is not None:
            self.check_tenants([tid])

    def action_check_all(self) -> None:
        """Check every saved connection."""
        self.check_tenants(list(self.entries))

    def action_new_connection(self) -> None:
        """Leave the dashboard for the onboarding wizard (it comes back afterwards)."""
        if self._checking:
            self.notify("A check is running; start the wizard when it has finished.",
                        severity="warning", markup=False)
            return
        self.dismiss("new")

    # -- actions on one tenant (e, r, p, x): screens/tenant_actions.py ------------------------

    def action_export(self) -> None:
        """Export the selected connection's key as a PFX (``connections export``)."""
        self.actions.start("export", self.selected_entry())

    def action_renew(self) -> None:
        """Renew the selected connection's certificate (``connections renew``)."""
        self.actions.start("renew", self.selected_entry())

    def action_repair(self) -> None:
        """Repair the selected connection (``connections repair``)."""
        self.actions.start("repair", self.selected_entry())

    def action_offboard(self) -> None:
        """Offboard the selected tenant (``connections remove --offboard``)."""
        self.actions.start("offboard", self.selected_entry())

    # -- what the actions and the detail screen see (FleetView) ------------------------------

    def is_checking(self, tenant_id: str) -> bool:
        """Whether the tenant is being checked now."""
        return tenant_id in self._checking

    async def recheck(self, tenant_id: str) -> None:
        """After an action: read the tenant's profile again (it names the new certificate
        or permissions) and check the tenant, so its row shows the new state."""
        from dataclasses import replace

        entry = self.entries.get(tenant_id)
        if entry is None:
            return
        try:
            profile = await asyncio.to_thread(self.context.store.load, tenant_id)
        except VdcError:
            profile = None
        if profile is not None:
            self.entries[tenant_id] = replace(entry, profile=profile, error=None)
        self.check_tenants([tenant_id])

    def forget(self, tenant_id: str) -> None:
        """The tenant was offboarded: its detail screen closes and its row goes."""
        from vdc_tui.screens.health_detail import HealthDetailScreen

        top = self.app.screen
        if isinstance(top, HealthDetailScreen) and top.entry.tenant_id == tenant_id:
            top.dismiss(None)  # its tenant is gone
        self.entries.pop(tenant_id, None)
        self.results.pop(tenant_id, None)
        self.app.sub_title = f"{len(self.entries)} saved"
        self._fill()

    def check_tenants(self, tenant_ids: Sequence[str]) -> None:
        """Check these tenants (those already being checked are skipped)."""
        wanted = [t for t in tenant_ids if t in self.entries and t not in self._checking]
        if not wanted:
            return
        self._checking.update(wanted)
        for tid in wanted:
            self._update_row(tid)
        self._run_check(wanted)

    @work(group="check", exit_on_error=False)
    async def _run_check(self, tenant_ids: list[str]) -> None:
        total = len(tenant_ids)
        try:
            unlocked = await self.context.ensure_passphrase()
        except VdcError as error:
            self.actions.say_error(error)
            unlocked = False
        if not unlocked:  # the keys cannot be read: nothing is checked
            self._checking.difference_update(tenant_ids)
            self._fill()
            return
        self._progress = f"Checking 0/{total}…"
        self._status()

        def progress(event: FleetProgress) -> None:
            if event.result is None:
                return
            self.results[event.tenant_id] = event.result
            self._checking.discard(event.tenant_id)
            self._progress = f"Checking {event.done}/{event.total}…"
            self._update_row(event.tenant_id)
            self._status()
            self.context.results.publish(event.result)

        try:
            fleet = self.context.fleet()
            await fleet.run([self.entries[t] for t in tenant_ids], progress)
        except Exception as exc:  # results so far are kept; say that the rest did not run
            self.notify(f"The check stopped: {scrub(str(exc) or type(exc).__name__, limit=200)}",
                        severity="error", markup=False)
        finally:
            self._checking.difference_update(tenant_ids)
            self._progress = ""
            self._fill()

    def quit_warning(self) -> str | None:
        """A running check is only reading: quitting loses nothing but its results."""
        return None
