"""The permission catalog against the app roles Microsoft's APIs publish.

The emulator's published roles are its own data (``emulator/data/resources.json``), so a
wrong id or value in the client's catalog fails here as it would against Microsoft.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from support.provisioning import CONTOSO, managed_apps, provision

from vdc_tui.connect.errors import ProvisioningFailed
from vdc_tui.connect.permissions import PermissionCatalog, load_catalog


def _tampered(field: str, new: str) -> tuple[PermissionCatalog, str]:
    """The shipped catalog with one Graph permission's id or value changed."""
    catalog = load_catalog()
    index = next(i for i, p in enumerate(catalog.permissions) if p.value == "Group.Read.All")
    old = catalog.permissions[index]
    bad = replace(old, id=new) if field == "id" else replace(old, value=new)
    perms = (*catalog.permissions[:index], bad, *catalog.permissions[index + 1 :])
    return replace(catalog, permissions=perms), catalog.permissions[index].id


def test_every_catalog_permission_is_published_with_its_id_and_value(emu: Any) -> None:
    for perm in load_catalog().permissions:
        principal = emu.state.resource_principal(CONTOSO, perm.resource.key)
        published = {r["id"]: r["value"] for r in principal.app_roles}
        assert published.get(perm.id) == perm.value, perm.display


async def test_catalog_entry_with_a_wrong_id_is_caught(emu: Any, tmp_path: Path) -> None:
    broken, _ = _tampered("id", "5b567255-7703-4780-807c-7be8301ae99c")
    with pytest.raises(ProvisioningFailed) as info:
        await provision(emu, tmp_path, catalog=broken)
    assert "Group.Read.All (5b567255-7703-4780-807c-7be8301ae99c) not published" in (
        info.value.message
    )
    assert managed_apps(emu) == []


async def test_catalog_entry_with_a_wrong_value_is_caught(emu: Any, tmp_path: Path) -> None:
    broken, real_id = _tampered("value", "Group.Read.Everything")
    with pytest.raises(ProvisioningFailed) as info:
        await provision(emu, tmp_path, catalog=broken)
    assert f"({real_id}) is published as 'Group.Read.All'" in info.value.message
    assert managed_apps(emu) == []


def test_the_emulator_does_not_read_the_client_catalog() -> None:
    code = (
        "import sys\n"
        "from vdc_tui.emulator import EmulatorServer, load_scenario\n"
        "import vdc_tui.emulator.state, vdc_tui.emulator.graph\n"
        "print('vdc_tui.connect.permissions' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "False"
