"""The app registration: find one this tool made, create one, or rotate the key of one.

Every change of an existing app is retried through replication lag (a new app may not be
visible yet where the next request lands). A created app carries :data:`MANAGED_TAG` and
the run's tag, so a rerun finds it again even before directory reads see it.

Key rotation (what renewal reuses): the new certificate is *added* next to the app's keys
(:meth:`Applications.reuse`, which records the keys as they were in the journal first),
verified, and only then are the old keys removed (:meth:`Applications.remove_old_keys`),
all but the saved profile's certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from vdc_tui.connect.entra.journal import Journal, RunState
from vdc_tui.connect.entra.pacing import Pacing
from vdc_tui.connect.errors import DiagnosedProblem, ServiceUnavailable, VdcError
from vdc_tui.connect.microsoft.answers import BatchAnswers, graph_error_text, is_replication_lag
from vdc_tui.connect.progress import Checklist

if TYPE_CHECKING:
    from vdc_tui.connect.microsoft.graph import GraphClient
    from vdc_tui.connect.permissions import RequiredPermission as Permission
    from vdc_tui.connect.store.profiles import ProfileStore

#: Tag on every app registration this tool creates; how a rerun finds it again.
MANAGED_TAG = "vdc-tui:managed"
#: Tag prefix naming the run that created the app (matches the journal's ``run_id``).
RUN_TAG_PREFIX = "vdc-tui:run:"
#: Marker in the app's ``notes`` so an admin looking at it in the portal knows its owner.
NOTES_MARKER = "Managed by vdc-tui (automatic mode)."
#: Properties read of an app that may be reused: enough to pick it, and its keys with their
#: public certificates (``key`` comes back only when ``keyCredentials`` is selected on a
#: single object; research/identity.md §5), so they can be kept next to a new one.
REUSE_SELECT = "id,appId,displayName,tags,createdDateTime,keyCredentials,requiredResourceAccess"
#: Writable ``keyCredential`` properties sent back to keep a key (``customKeyIdentifier`` is
#: left to Graph, which derives it from the certificate).
#: A thumbprint as Graph serves it in ``customKeyIdentifier`` (40 hex digits).
_SHA1_HEX = re.compile(r"[0-9A-Fa-f]{40}")
_KEY_FIELDS = ("keyId", "type", "usage", "key", "displayName", "startDateTime", "endDateTime")


def managed_apps_query() -> str:
    """The Graph path listing the app registrations this tool made."""
    return f"/applications?$filter=tags/any(t:t eq '{MANAGED_TAG}')"


async def apps_tagged(graph: GraphClient, tag: str) -> list[dict[str, Any]]:
    """App registrations carrying ``tag`` (filtered here if the directory cannot)."""
    from vdc_tui.connect.microsoft.graph import GraphError

    try:
        return await graph.get_all(
            "/applications",
            params={"$filter": f"tags/any(t:t eq '{tag}')", "$select": "id,appId,tags"},
        )
    except GraphError as err:
        if err.status != 400:
            raise
    apps = await graph.get_all("/applications", params={"$select": "id,appId,tags"})
    return [a for a in apps if tag in (a.get("tags") or [])]


def app_not_in_tenant(app_id: str) -> DiagnosedProblem:
    """A saved connection's app registration is gone from the tenant (renewal, repair)."""
    return DiagnosedProblem(
        "app_not_found_in_tenant",
        f"The app registration {app_id} is not in the tenant any more.",
        "Connect the tenant again with `vdc-tui connect auto`.",
        {"app_id": app_id},
    )


def writable_key(key: Mapping[str, Any]) -> dict[str, Any]:
    """A ``keyCredential`` as read, reduced to what may be sent back to keep it."""
    return {k: key[k] for k in _KEY_FIELDS if key.get(k) is not None}


def key_sha1(key: Mapping[str, Any]) -> str:
    """SHA-1 thumbprint of a key entry's certificate (for messages), or its key id.

    Graph serves ``key`` only when ``keyCredentials`` is selected on one app; otherwise
    (``key: null``) its ``customKeyIdentifier`` is the thumbprint, upper-case hex.
    """
    try:
        der = base64.b64decode(str(key.get("key") or ""), validate=True)
    except (ValueError, binascii.Error):
        der = b""
    if not der:
        served = str(key.get("customKeyIdentifier") or "")
        if _SHA1_HEX.fullmatch(served):
            return served.upper()
        return str(key.get("keyId") or "?")
    return hashlib.sha1(der).hexdigest().upper()  # Entra's thumbprint, not security


def access_set(access: Sequence[Mapping[str, Any]]) -> set[tuple[str, str, str]]:
    """``requiredResourceAccess`` as a set, for comparing two lists in any order."""
    return {
        (str(api.get("resourceAppId")), str(entry.get("id")), str(entry.get("type")))
        for api in access
        for entry in api.get("resourceAccess") or ()
    }


def required_resource_access(required: Sequence[Permission]) -> list[dict[str, Any]]:
    """The app's ``requiredResourceAccess`` for these application permissions."""
    by_api: dict[str, list[dict[str, str]]] = {}
    for perm in required:
        entries = by_api.setdefault(perm.resource.app_id, [])
        if all(e["id"] != perm.id for e in entries):
            entries.append({"id": perm.id, "type": "Role"})
    return [
        {"resourceAppId": app_id, "resourceAccess": access} for app_id, access in by_api.items()
    ]


def saved_app_id(profiles: ProfileStore, tenant_id: str) -> str | None:
    """The Application (client) ID of the tenant's saved connection, if there is one."""
    if not tenant_id:
        return None
    try:
        profile = profiles.load(tenant_id)
    except (VdcError, OSError, KeyError, ValueError):
        return None
    app_id = profile.get("app_id") or (profile.get("app") or {}).get("app_id")
    return str(app_id) if app_id else None


def saved_certificate_sha1(
    profiles: ProfileStore, tenant_id: str, app_id: str | None
) -> str | None:
    """SHA-1 thumbprint of the saved profile's certificate, when it is for this app."""
    try:
        profile = profiles.load(tenant_id)
    except (VdcError, OSError, KeyError, ValueError):
        return None
    connection = profile.get("app") or {}
    certificate = profile.get("certificate") or {}
    if not isinstance(connection, dict) or not isinstance(certificate, dict):
        return None
    if app_id is None or str(connection.get("app_id") or "").lower() != app_id.lower():
        return None
    sha1 = certificate.get("sha1")
    return str(sha1).upper() if sha1 else None


def _created_at(app: Mapping[str, Any]) -> float:
    """An app's ``createdDateTime`` as a time: Graph answers a create with 7 fractional
    digits and later reads with none, so the texts do not sort as the times do."""
    text = str(app.get("createdDateTime") or "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float("inf")  # unknown: after every dated app


def pick_existing(
    apps_answer: list[dict[str, Any]] | None,
    known: Mapping[str, Any] | None,
    previous: Journal | None,
    saved: str | None,
    checklist: Checklist,
) -> dict[str, Any] | None:
    """The app to reuse, or ``None`` to create one.

    Args:
        apps_answer: The apps carrying :data:`MANAGED_TAG`, as listed.
        known: The app a journal names (an unfinished run's, or one to restore), as read.
        previous: The journal an earlier run left.
        saved: The saved profile's Application (client) ID.
        checklist: Warns when more than one app of this tool exists.
    """
    apps = [a for a in apps_answer or () if MANAGED_TAG in (a.get("tags") or [])]
    chosen = dict(known) if known is not None else None
    if chosen is None and previous is not None and previous.run_id:
        # An unfinished run that died before it read the create's answer: its app
        # carries the run's tag.
        run_tag = RUN_TAG_PREFIX + previous.run_id
        chosen = next((a for a in apps if run_tag in (a.get("tags") or [])), None)
    if chosen is None and apps:
        # Prefer the app of the saved profile; otherwise the oldest, so reruns are stable.
        apps.sort(key=lambda a: (a.get("appId") != saved, _created_at(a)))
        chosen = apps[0]
    if chosen is None:
        return None
    others = [str(a.get("appId")) for a in apps if a.get("id") != chosen.get("id")]
    if others:
        checklist.warn(
            "application",
            f"{len(others) + 1} app registrations made by vdc-tui exist; "
            f"reusing {chosen.get('appId')}.",
            "Delete the others in the Entra admin centre (App registrations) when no "
            "connection uses them: " + ", ".join(others),
        )
    return chosen


async def find_journaled(
    graph: GraphClient, pacing: Pacing, previous: Journal, checklist: Checklist
) -> dict[str, Any] | None:
    """The app an unfinished run's journal names, looked for until it is proven gone.

    A journaled app that answers 404 inside the replication window is *not yet visible*,
    not gone: it is looked for by its object id and by the run's tag, with a backoff,
    until the replication timeout has passed since the journal was last written. Only
    then is it taken as gone (a rollback that finished deleting it, or a create that never
    reached the directory), and the caller may drop the journal entry.

    Returns:
        The app as read (``id``, ``appId``, ``tags``, keys when read by id), or ``None``.

    Raises:
        GraphError, ServiceUnavailable: an answer that is neither the app nor "not found".
    """
    from vdc_tui.connect.microsoft.graph import GraphError

    if not previous.names_objects():
        return None
    age = previous.age()
    window = pacing.replication - (age if age is not None else 0.0)
    tag = RUN_TAG_PREFIX + previous.run_id if previous.run_id else None
    what = (
        f"app registration {previous.app_id}"
        if previous.app_id
        else "the app registration an interrupted run may have created"
    )
    backoff = pacing.backoff(max(0.0, window), initial=0.5)
    while True:
        if previous.application_id:
            try:
                return await graph.get(
                    f"/applications/{previous.application_id}", params={"$select": REUSE_SELECT}
                )
            except GraphError as err:
                if err.status != 404:
                    raise
        if tag is not None:
            found = await apps_tagged(graph, tag)
            if found:
                return found[0]
        checklist.running(
            "application",
            f"Looking for {what}: not visible yet, the directory may still be replicating it "
            f"({backoff.describe()}, at most {max(0.0, window):.0f} s)",
        )
        if not await backoff.wait():
            return None


class Applications:
    """Changes to app registrations through one Graph client, retried through replication.

    Args:
        graph: The admin's (delegated) Graph client.
        pacing: Time limits and backoff.
        required: The application permissions the app must ask for.
    """

    def __init__(self, graph: GraphClient, pacing: Pacing, required: Sequence[Permission]) -> None:
        self._graph = graph
        self._pacing = pacing
        self._required = tuple(required)

    def _application_body(self, credential_entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "requiredResourceAccess": required_resource_access(self._required),
            # A created (or resumed, half-made) app ends with exactly one key: the new
            # certificate. A resumed app's old key died with the killed run's process.
            "keyCredentials": [credential_entry],
        }

    async def create(
        self, display_name: str, credential_entry: dict[str, Any], state: RunState
    ) -> None:
        """Create the app with this key (the journal says so first, for a kill mid-way)."""
        state.journal.pending = "application"
        state.write_journal()
        body = {
            "displayName": display_name,
            "signInAudience": "AzureADMyOrg",
            "tags": [MANAGED_TAG, RUN_TAG_PREFIX + state.journal.run_id],
            "notes": f"{NOTES_MARKER} Tenant {state.journal.tenant_id}. Certificates are "
            "rotated by vdc-tui; do not add credentials by hand.",
            **self._application_body(credential_entry),
        }
        state.made(await self._graph.post("/applications", body))
        state.write_journal()

    async def reuse(
        self,
        app: Mapping[str, Any],
        known: BatchAnswers | None,
        credential_entry: dict[str, Any],
        state: RunState,
        previous: Journal | None,
    ) -> None:
        """Put the new key on an existing app (and its permissions, when they changed).

        An app an unfinished run created gets exactly the new key. An app a verified run
        made keeps its keys next to the new one until :meth:`remove_old_keys`, and the
        journal records them (and its permissions) as they were first.

        Args:
            app: The app, as listed.
            known: Answers that may hold the app read with its keys (``journal_app``,
                ``restore_app``, ``saved_app``), saving a read.
            credential_entry: The new ``keyCredential``.
            state: The run (its journal is written before the change).
            previous: The journal an earlier run left.
        """
        state.application_id = str(app["id"])
        state.app_id = str(app["appId"])
        run_tag_of_previous = RUN_TAG_PREFIX + previous.run_id if previous else None
        # An app an unfinished run created is still "ours to delete" until a run verifies.
        state.created = previous is not None and (
            previous.application_id == state.application_id
            or (run_tag_of_previous is not None and run_tag_of_previous in (app.get("tags") or []))
        )
        if state.created:
            state.journal.application_id = state.application_id
            state.journal.app_id = state.app_id
            state.write_journal()
            await self.patch(state.application_id, self._application_body(credential_entry))
            return
        # An app a verified run made: a saved connection may depend on its keys. Add the
        # new key next to them; they go only after the new one is verified.
        current = _with_keys(known, state.application_id) or await self.read(
            state.application_id
        )
        baseline = (
            previous.restore
            if previous is not None
            and previous.restore is not None
            and previous.restore.get("application_id") == state.application_id
            else None
        )
        if baseline is not None:
            # A killed rerun left its own (now useless) key on the app: start from the keys
            # the app had before that run, as its journal recorded them.
            keys = list(baseline["key_credentials"])
            access_before = baseline.get("required_resource_access")
        else:
            keys = [writable_key(k) for k in current.get("keyCredentials") or ()]
            access_before = None
        if access_before is None:
            access_before = list(current.get("requiredResourceAccess") or ())
        wanted = required_resource_access(self._required)
        change_access = access_set(access_before) != access_set(wanted)
        state.journal.restore = {
            "application_id": state.application_id,
            "app_id": state.app_id,
            "key_credentials": keys,
            "required_resource_access": access_before if change_access else None,
            "new_key_id": credential_entry["keyId"],
        }
        state.write_journal()
        body: dict[str, Any] = {"keyCredentials": [*keys, credential_entry]}
        if change_access:
            body["requiredResourceAccess"] = wanted
        await self.patch(state.application_id, body)

    async def read(self, application_id: str) -> dict[str, Any]:
        """The app with its keys' certificates (retried while it may be replicating)."""
        from vdc_tui.connect.microsoft.graph import GraphError

        backoff = self._pacing.backoff(self._pacing.replication)
        while True:
            try:
                return await self._graph.get(
                    f"/applications/{application_id}", params={"$select": REUSE_SELECT}
                )
            except GraphError as err:
                if not (is_replication_lag(err) and await backoff.wait()):
                    raise

    async def patch(self, application_id: str, body: dict[str, Any]) -> None:
        """``PATCH`` the app (retried while it may be replicating)."""
        from vdc_tui.connect.microsoft.graph import GraphError

        backoff = self._pacing.backoff(self._pacing.replication)
        while True:
            try:
                await self._graph.patch(f"/applications/{application_id}", body)
                return
            except GraphError as err:
                if not (is_replication_lag(err) and await backoff.wait()):
                    raise

    async def remove_old_keys(
        self, state: RunState, saved_sha1: str | None, checklist: Checklist
    ) -> None:
        """After verification: leave only the new key on a reused app."""
        from vdc_tui.connect.microsoft.graph import GraphError

        restore = state.journal.restore
        assert restore is not None and state.new_key is not None
        assert state.application_id is not None
        old = [k for k in restore["key_credentials"] if k.get("keyId") != state.new_key["keyId"]]
        # The certificate of the connection profile saved now stays too: the new profile is
        # written only when the operator finishes the wizard, and an operator who quits
        # before that must still have a working connection. The next run removes it.
        kept = [k for k in old if saved_sha1 is not None and key_sha1(k) == saved_sha1]
        # Sent even when the app had no key before: a killed earlier rerun may have left
        # its own on it. The flag is set before sending: the change may land even if its
        # answer never arrives.
        state.old_keys_removed = True
        try:
            await self.patch(state.application_id, {"keyCredentials": [*kept, state.new_key]})
        except (GraphError, ServiceUnavailable) as err:
            # The new certificate works and is verified; keeping the connection matters more
            # than tidiness, so this is a warning, not a failure that would undo it.
            why = graph_error_text(err) if isinstance(err, GraphError) else err.message
            checklist.warn(
                "application",
                f"The previous certificate(s) could not be removed from app {state.app_id}: "
                f"{why}",
                "Remove every certificate but SHA-1 "
                + key_sha1(state.new_key)
                + " in the Entra admin centre (App registrations → Certificates & secrets)"
                + (" (previous: " + ", ".join(key_sha1(k) for k in old) + ")" if old else "")
                + ", or run automatic mode again.",
            )




def _with_keys(known: BatchAnswers | None, application_id: str) -> dict[str, Any] | None:
    """The app as read with its keys' certificates in a batch, if it was."""
    for rid in ("journal_app", "restore_app", "saved_app"):
        body = known.body(rid) if known is not None else None
        if body is not None and body.get("id") == application_id:
            return body
    return None


__all__ = [
    "MANAGED_TAG",
    "NOTES_MARKER",
    "REUSE_SELECT",
    "RUN_TAG_PREFIX",
    "Applications",
    "access_set",
    "app_not_in_tenant",
    "apps_tagged",
    "find_journaled",
    "key_sha1",
    "managed_apps_query",
    "pick_existing",
    "required_resource_access",
    "saved_app_id",
    "saved_certificate_sha1",
    "writable_key",
]
