"""The ``revoke_on_add_key`` fault: an admin removes a grant just after a new key lands.

Entra issues an app-only token's ``roles`` from the app role assignments present at that
moment ("Microsoft identity platform access tokens": ``roles``), so once the assignment is
gone every new token lacks the role, whichever key signed the client assertion.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from support.emulator import DEMO_TENANT, StartEmulator, client_credentials, load_pfx

from vdc_tui.emulator import EmulatorServer

from .test_app_lifecycle import APP_ID, OBJECT_ID, add_key_body, current, new_cert, own, proof
from .test_app_lifecycle import scenario as roller_scenario


def roles(emu: EmulatorServer, key: Any, cert: Any) -> list[str]:
    response = client_credentials(emu, tenant=DEMO_TENANT, client_id=APP_ID, key=key,
                                  cert=cert)
    assert response.status_code == 200, response.text
    payload = response.json()["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return list(claims.get("roles") or [])


def test_the_grant_is_gone_for_every_key_once_add_key_lands(
        start_emulator: StartEmulator) -> None:
    emu = start_emulator(roller_scenario(), revoke_on_add_key="Directory.Read.All")
    old_key, old_cert = load_pfx(emu.certificate_path("roller"), None)
    assert roles(emu, old_key, old_cert) == ["Directory.Read.All"]  # not before addKey
    new_key, new_cert_ = new_cert()
    with own(emu) as g:
        response = g.post(f"/applications/{OBJECT_ID}/addKey",
                          json=add_key_body(new_cert_, proof(*current(emu))))
    assert response.status_code == 200, response.text
    assert roles(emu, new_key, new_cert_) == []
    assert roles(emu, old_key, old_cert) == []
    assert emu.faults.revoke_on_add_key == ""  # it fired once


def test_without_the_fault_add_key_leaves_the_grants(start_emulator: StartEmulator) -> None:
    emu = start_emulator(roller_scenario())
    new_key, new_cert_ = new_cert()
    with own(emu) as g:
        response = g.post(f"/applications/{OBJECT_ID}/addKey",
                          json=add_key_body(new_cert_, proof(*current(emu))))
    assert response.status_code == 200, response.text
    assert roles(emu, new_key, new_cert_) == ["Directory.Read.All"]
