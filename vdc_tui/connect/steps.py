"""The steps of a run and their titles: one list, shown by the wizard's checklist before a
run starts and carried by every :class:`~vdc_tui.connect.models.CheckEvent` the run reports
(so a row keeps its title from "pending" to "pass", and the CLI prints the same words).

Step ids are a contract (``docs/architecture.md``, the CLI's ``--json`` events).
"""

from __future__ import annotations

#: The last step of every run that signs an admin in (automatic mode, repair, offboarding):
#: the onboarding scopes leave the sign-in client's delegated grants (entra/consent.py).
CONSENT_STEP = "consent"
CONSENT_TITLE = "Remove the sign-in's delegated consent"

#: Automatic mode (:mod:`vdc_tui.connect.onboard.automatic`), in the order the wizard lists them.
AUTOMATIC_STEPS: tuple[tuple[str, str], ...] = (
    ("admin", "Signed-in account is a Global Administrator"),
    ("organization", "Read the tenant"),
    ("application", "Create the app registration and its certificate"),
    ("service_principal", "Create its service principal"),
    ("resource_principals", "Find Microsoft Graph, Exchange Online and SharePoint Online"),
    ("grants", "Grant the application permissions (admin consent)"),
    ("directory_role", "Assign the Global Reader role"),
    ("verify", "Check that an app-only token carries the permissions"),
    ("services", "Detect the services the tenant has"),
    (CONSENT_STEP, CONSENT_TITLE),
)

#: Manual mode (:mod:`vdc_tui.connect.onboard.manual`).
MANUAL_STEPS: tuple[tuple[str, str], ...] = (
    ("certificate", "Certificate file opens and holds its private key"),
    ("tenant", "Find the tenant of the admin email"),
    ("sign_in", "Sign in as the app with the certificate"),
    ("registration", "App registration and its certificate"),
    ("permissions", "Application permissions and admin consent"),
    ("admin_email", "Admin email is a user of the tenant"),
    ("services", "Detect the services the tenant has"),
)

#: Titles by step id, for reporters (:class:`~vdc_tui.connect.progress.Checklist`).
AUTOMATIC_TITLES: dict[str, str] = dict(AUTOMATIC_STEPS)
MANUAL_TITLES: dict[str, str] = dict(MANUAL_STEPS)

__all__ = ["AUTOMATIC_STEPS", "AUTOMATIC_TITLES", "CONSENT_STEP", "CONSENT_TITLE", "MANUAL_STEPS",
           "MANUAL_TITLES"]
