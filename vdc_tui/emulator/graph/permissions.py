"""What each route needs: delegated scopes, app roles and, for delegated admin writes, a
directory role (least-privileged sets of the Graph API reference)."""

from __future__ import annotations

from dataclasses import dataclass

from vdc_tui.emulator.scenario import (
    DIRECTORY_ROLES,
    GLOBAL_ADMINISTRATOR,
    PRIVILEGED_ROLE_ADMINISTRATOR,
)

GA = GLOBAL_ADMINISTRATOR
PRA = PRIVILEGED_ROLE_ADMINISTRATOR
#: Roles that may write delegated permission grants acting as a user (rbac-for-apis
#: oauth2permissiongrant-apis-write; Application Developer and Directory Writers are not
#: emulated roles).
_GRANT_WRITERS = (GA, PRA, DIRECTORY_ROLES["Cloud Application Administrator"],
                  DIRECTORY_ROLES["Application Administrator"],
                  DIRECTORY_ROLES["User Administrator"])
_DELEGATED_GRANTS = ("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All")

_READ_DIR = ("Directory.Read.All", "Directory.ReadWrite.All")
_DELEGATED_DIR = (*_READ_DIR, "Directory.AccessAsUser.All")


@dataclass(frozen=True)
class Permission:
    """What a route needs: any delegated scope, any app role, and for delegated admin
    writes one of the directory roles (``None`` = no role needed)."""

    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    admin_roles: tuple[str, ...] | None = None
    delegated_only: bool = False


PERMISSIONS: dict[str, Permission] = {
    "organization": Permission(("User.Read", "Organization.Read.All", *_DELEGATED_DIR),
                               ("Organization.Read.All", "Organization.ReadWrite.All",
                                *_READ_DIR)),
    "subscribedSkus": Permission(("Organization.Read.All", "LicenseAssignment.Read.All",
                                  *_DELEGATED_DIR),
                                 ("Organization.Read.All", "LicenseAssignment.Read.All",
                                  *_READ_DIR)),
    "me": Permission(("User.Read", "User.ReadWrite", "User.Read.All", *_DELEGATED_DIR), (),
                     delegated_only=True),
    "users": Permission(("User.Read.All", "User.ReadBasic.All", "User.ReadWrite.All",
                         *_DELEGATED_DIR),
                        ("User.Read.All", "User.ReadBasic.All", "User.ReadWrite.All",
                         *_READ_DIR)),
    # Users may register applications by default in Entra, so no admin role for app writes.
    "applications.read": Permission(("Application.Read.All", "Application.ReadWrite.All",
                                     *_DELEGATED_DIR),
                                    ("Application.Read.All", "Application.ReadWrite.All",
                                     *_READ_DIR)),
    "applications.write": Permission(("Application.ReadWrite.All", "Directory.AccessAsUser.All"),
                                     ("Application.ReadWrite.All",)),
    "grants.read": Permission(("Application.Read.All", "Application.ReadWrite.All",
                               "AppRoleAssignment.ReadWrite.All", *_DELEGATED_DIR),
                              ("Application.Read.All", "Application.ReadWrite.All",
                               "AppRoleAssignment.ReadWrite.All", *_READ_DIR)),
    "grants.write": Permission(("AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All"),
                               ("AppRoleAssignment.ReadWrite.All",), admin_roles=(GA, PRA)),
    "roles.read": Permission(("RoleManagement.Read.Directory", "RoleManagement.ReadWrite.Directory",
                              *_DELEGATED_DIR),
                             ("RoleManagement.Read.Directory", "RoleManagement.Read.All",
                              "RoleManagement.ReadWrite.Directory", *_READ_DIR)),
    "roles.write": Permission(("RoleManagement.ReadWrite.Directory",),
                              ("RoleManagement.ReadWrite.Directory",), admin_roles=(GA, PRA)),
    # oauth2permissiongrant-list/-get: Directory.Read.All least privileged (both kinds).
    "delegated_grants.read": Permission(("Directory.Read.All", *_DELEGATED_GRANTS),
                                        ("Directory.Read.All", *_DELEGATED_GRANTS)),
    # oauth2permissiongrant-update/-delete.
    "delegated_grants.write": Permission(_DELEGATED_GRANTS, _DELEGATED_GRANTS,
                                         admin_roles=_GRANT_WRITERS),
    "sites": Permission(("Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All",
                         "Sites.FullControl.All"),
                        ("Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All",
                         "Sites.FullControl.All")),
}
