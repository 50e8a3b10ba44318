"""One connection's health: every check, what was found and what fixes it.

Esc goes back to the dashboard, ``c`` checks this tenant again; ``e`` export, ``r`` renew,
``p`` repair and ``x`` offboard run the dashboard's actions on this tenant
(:class:`~.tenant_actions.TenantActions`, shared with the dashboard); the action bar under
the checks lists them. New results arrive on the context's ``results`` signal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from vdc_tui.connect.errors import scrub
from vdc_tui.screens.base import WizardScreen
from vdc_tui.screens.fleet_rows import HEALTH_STYLE, age, state_of
from vdc_tui.widgets.audit_history import AuditHistory

if TYPE_CHECKING:
    from vdc_tui.connect.fleet.health import TenantHealth
    from vdc_tui.connect.store.profiles import ProfileEntry
    from vdc_tui.screens.tenant_actions import FleetContext, FleetView, TenantActions

_GLYPH = {
    "ok": ("✔", "$success"),
    "warning": ("!", "$warning"),
    "broken": ("✘", "$error"),
    "skipped": ("–", "$text-muted"),
}


def _when(iso: str | None) -> str:
    """``2026-11-30 20:47 UTC`` for an ISO time (as given when it is not one)."""
    if not iso:
        return "-"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


class HealthDetailScreen(WizardScreen[None]):
    """Every check of one tenant with its remediation."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="detail.back", tooltip="Back to the dashboard"),
        Binding("c", "check", "Check", id="detail.check",
                tooltip="Check this tenant again now"),
        Binding("e", "act('export')", "Export", id="detail.export",
                tooltip="Write this connection's key as a password-protected PFX for the "
                        "backup service's manual connection form"),
        Binding("r", "act('renew')", "Renew", id="detail.renew",
                tooltip="Roll this connection's certificate (no admin needed)"),
        Binding("p", "act('repair')", "Repair", id="detail.repair",
                tooltip="A Global Admin signs in once: missing permissions and Global Reader "
                        "granted, the certificate put back on the app (or replaced when "
                        "expired), a deleted app restored; the app id stays"),
        Binding("x", "act('offboard')", "Offboard", id="detail.offboard",
                tooltip="Delete the app registration in the tenant, then the local profile "
                        "and key (asks first; a Global Admin signs in)"),
    ]

    def __init__(self, fleet: FleetView, context: FleetContext, entry: ProfileEntry,
                 actions: TenantActions) -> None:
        """Show ``entry``'s last result; it follows new results while open.

        Args:
            fleet: The dashboard's entries, results and checks.
            context: The store, the clock and the results signal.
            entry: The tenant shown.
            actions: Where ``e``, ``r``, ``p`` and ``x`` start (the dashboard's).
        """
        super().__init__(id="health-detail")
        self.fleet = fleet
        self.context = context
        self.entry = entry
        self.actions = actions

    def compose_body(self) -> Iterable[Widget]:
        """Heading, facts, checks and the action bar."""
        with Vertical(classes="body"):
            yield Static("", id="detail-heading", classes="step-heading", markup=False)
            with VerticalScroll(id="detail-scroll"):
                yield Static("", id="detail-facts")
                yield AuditHistory(self.context.store.root,
                                   self.entry.tenant_id)
                yield Vertical(id="detail-checks")
            with Horizontal(id="detail-actions"):
                yield Static(self._actions_hint(), id="detail-actions-hint")

    def _actions_hint(self) -> Content:
        """The tenant's actions (every shown key but Back), room for more to come."""
        parts: list[tuple[str, str] | str] = [("Actions: ", "bold")]
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.show and binding.key != "escape":
                key = self.app.get_key_display(binding)
                parts += [(f" {key} ", "reverse"), f" {binding.description}   "]
        return Content.assemble(*parts)

    def on_mount(self) -> None:
        """Show the last result and follow new ones."""
        self._show(self.fleet.results.get(self.entry.tenant_id))
        self.context.results.subscribe(self, self._new_result)

    def on_screen_resume(self) -> None:
        """Back from an action's screen: its record is in the history now."""
        self.query_one(AuditHistory).reload()

    def _new_result(self, result: TenantHealth) -> None:
        if result.tenant_id == self.entry.tenant_id:
            self._show(result)

    def _show(self, result: TenantHealth | None) -> None:
        entry = self.entry
        label = scrub(entry.name or entry.default_domain or entry.tenant_id, limit=80)
        state, style = HEALTH_STYLE[state_of(result)]
        self.query_one("#detail-heading", Static).update(f"{label} — {state}")
        mode = (entry.profile or {}).get("mode")
        facts = [
            ("Tenant ID", entry.tenant_id),
            ("Domain", entry.default_domain or "-"),
            ("Mode", "manual" if mode == "manual" else "automatic"),
        ]
        if result is not None:
            if result.days_left is None:
                days = ""
            elif result.days_left < 0:
                days = f" (expired {-result.days_left} day{'s' if result.days_left != -1 else ''}"
                days += " ago)"
            else:
                days = f" ({result.days_left} days left)"
            checked = age(result.checked_at, self.context.clock())
            facts += [
                ("Certificate", f"SHA-1 {result.sha1 or '-'}"),
                ("Valid until", f"{_when(result.not_after)}{days}"),
                ("Checked", f"{_when(result.checked_at)} ({checked})"),
            ]
        facts_content = Content("\n").join(
            Content.assemble((f"{name:<12}", "bold"), scrub(value, limit=200))
            for name, value in facts)
        self.query_one("#detail-facts", Static).update(facts_content)
        box = self.query_one("#detail-checks", Vertical)
        box.remove_children()
        if result is None:
            box.mount(Static("Never checked. Press c to check it now.", classes="dim",
                             markup=False))
            return
        widgets: list[Widget] = []
        for check in result.checks:
            glyph, colour = _GLYPH.get(check.status, ("?", "$text-muted"))
            head = Content.assemble((f"{glyph} ", f"bold {colour}"), (check.title, "bold"),
                                    (f"  {check.status}", colour))
            body = [Content(scrub(check.detail, limit=1000))]
            if check.remediation and check.status in ("broken", "warning"):
                body.append(Content.assemble(("Fix: ", "bold $accent"),
                                             scrub(check.remediation, limit=1000)))
            key = self._fix_key(check.code) if check.status in ("broken", "warning") else None
            if key is not None:
                body.append(Content.assemble(("Here: press ", "bold $accent"),
                                             (f" {key[0]} ", "reverse"), f" {key[1]}"))
            widgets.append(Vertical(
                Static(head, classes="detail-check-title"),
                Static(Content("\n").join(body), classes="detail-check-body"),
                classes="detail-check"))
        box.mount_all(widgets)

    def _fix_key(self, code: str | None) -> tuple[str, str] | None:
        """The key of this screen that fixes a finding, and what it does."""
        from vdc_tui.connect.fleet.health import fix_action

        action = fix_action(code)
        if action is None:
            return None
        binding = next(b for b in self.BINDINGS
                       if isinstance(b, Binding) and b.action == f"act('{action}')")
        said = ("to renew the certificate (no admin needed)" if action == "renew" else
                "to repair it (a Global Administrator signs in once; the app and its id stay)")
        return self.app.get_key_display(binding), said

    def action_back(self) -> None:
        """Back to the dashboard."""
        self.dismiss(None)

    def action_act(self, name: str) -> None:
        """Run the action ``name`` on this tenant (as the dashboard's key would)."""
        self.actions.start(name, self.fleet.entries.get(self.entry.tenant_id))

    def action_check(self) -> None:
        """Check this tenant again (the result appears here when it arrives)."""
        self.fleet.check_tenants([self.entry.tenant_id])
        self.query_one("#detail-heading", Static).update(
            f"{scrub(self.entry.name or self.entry.tenant_id, limit=80)} — checking…")
