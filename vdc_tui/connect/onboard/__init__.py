"""Onboarding, the two ways to connect; automatic mode: from a Global Administrator's
delegated token to a verified app.

The run, step by step (checklist ids of ``docs/architecture.md``):

1. ``admin`` / ``organization`` / ``resource_principals``: one ``$batch`` reads the tenant,
   the admin's roles (when the token's ``wids`` do not already show Global Administrator),
   an app this tool made before, the subscriptions, the SharePoint root site and the three
   resource principals, whose app roles are checked against the catalog *before* anything
   is created.
2. ``application``: reuse the app this tool made for the tenant (tag :data:`MANAGED_TAG`)
   or create one, with a fresh self-signed certificate either way.
3. ``service_principal``: create (or find) its principal, retrying while the directory has
   not caught up with the new application.
4. ``grants`` / ``directory_role``: every app role and the Global Reader role, in as few
   ``$batch`` round trips as Graph allows, retrying what the new principal is not yet
   visible for.
5. ``verify``: app-only tokens for Graph, Exchange and SharePoint, polled until their
   ``roles`` carry every required permission.
6. ``services``: which services the tenant has.

Waiting is always a bounded, adaptive backoff (:class:`Backoff`), never a fixed sleep.

A journal (``provisioning.json`` in the tenant's profile folder, 0600, no secrets) is written
before each create or change. A run that is killed outright leaves it behind, and the next run
for the tenant *resumes* the half-made app rather than deleting it: the app carries this tool's
tag and the journal's ids, so it is found even before directory reads see it, and everything
after creation is idempotent (a new certificate replaces the old one, whose private key died
with the killed process; existing grants count as granted). Resuming avoids a delete and a
create racing each other through replication. Until a run verifies, the resumed app counts
as created by it, so a failure deletes it.

Rollback (any failure or cancellation before verification succeeds):

- An app this run created is deleted (its principal goes with it). When the create was still
  in flight (no answer yet), the app is looked for by the run's tag for a short, bounded
  time, since the directory may still be finishing the create or replicating it; found, it
  is deleted; not found, the journal stays and the next run finds it by the tag.
- An app that an earlier, *verified* run made is never left worse than it was: the new
  certificate is added next to the existing keys, verified, and only then are the old keys
  removed — all but the saved profile's certificate, which stays until the next run because
  the new profile is written only when the operator finishes the wizard. The journal
  records the app's keys and required permissions as they were, and a
  failed run puts them back (so the saved connection keeps working); a killed run's journal
  lets the next run put them back.

Where each piece lives:

- :mod:`.automatic`: :class:`~.automatic.AutomaticConnector`, the sequence of steps.
- :mod:`.rollback`: undoing a run that did not verify.
- :mod:`.manual`: manual mode, :class:`~.manual.ManualValidator` (an app the operator made).
- :mod:`vdc_tui.connect.entra`: the tenant pieces both modes share with renewal, repair and
  offboarding (first reads, application, principal, grants, verification, journal, pacing).

The checklist (:class:`~vdc_tui.connect.progress.Checklist`), the backoff
(:class:`~vdc_tui.connect.progress.Backoff`) and the step titles
(:mod:`vdc_tui.connect.steps`) live at the top of the service layer.
"""
