"""How Graph shapes what it answers: full entities, headers, ``Location``, ids and times.

Every handler answers through these helpers (``Handlers._ok`` / ``_created`` and the
entities' ``to_graph``), so a new handler gets Graph's shapes without writing them:

- an entity is *full*: every property of Graph's default projection, nulls and empty
  collections included (:func:`full_entity`). The projection (which names Graph returns
  without ``$select``) is the emulator's own data, :data:`PROJECTIONS`, written from the
  recorded answers described in ``research/recordings.md``; the default of each property
  comes from the CSDL extract (a collection is ``[]``, anything else ``null``) where the
  projection does not give one;
- a success body carries Graph's OData ``Content-Type`` and ``OData-Version: 4.0``; an
  error is plain ``application/json`` (:func:`content_headers`);
- a create answers ``Location: {graph}/v2/{tenant}/directoryObjects/{id}/Microsoft.
  DirectoryServices.{Type}`` (:func:`location`);
- an ``oAuth2PermissionGrant`` id is base64url of the client's and the resource's ids,
  an ``appRoleAssignment`` id starts with the principal's id in base64url
  (:func:`grant_id`, :func:`assignment_id`);
- a create answers its ``createdDateTime`` with 7 fractional digits, later reads with none
  (:func:`iso7`; ``state.iso`` for reads).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import uuid
from functools import cache
from typing import Any

from cryptography import x509

from vdc_tui.emulator.schema import entity_properties

#: Graph's Content-Type of a success body with JSON (exactly as served).
ODATA_JSON = ("application/json;odata.metadata=minimal;odata.streaming=true;"
              "IEEE754Compatible=false;charset=utf-8")
#: Content-Type of an error body: plain JSON.
ERROR_JSON = "application/json"


class _Schema:
    """Marker: the default of this property comes from the CSDL extract."""

    def __repr__(self) -> str:
        return "SCHEMA"


SCHEMA: Any = _Schema()

_VERIFIED_PUBLISHER = {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None}
_INFO = {"logoUrl": None, "marketingUrl": None, "privacyStatementUrl": None, "supportUrl": None,
         "termsOfServiceUrl": None}

#: Graph's default projection of each entity type, in the order Graph serves it. A value is
#: the default (a dict: a complex value Graph always fills, whose own properties default
#: the same way); ``SCHEMA``: ``[]`` for a collection of the CSDL extract, ``null`` else.
PROJECTIONS: dict[str, dict[str, Any]] = {
    "application": {
        "id": SCHEMA, "deletedDateTime": SCHEMA, "appId": SCHEMA,
        "applicationTemplateId": SCHEMA, "disabledByMicrosoftStatus": SCHEMA,
        "createdDateTime": SCHEMA, "displayName": SCHEMA, "description": SCHEMA,
        "groupMembershipClaims": SCHEMA, "identifierUris": SCHEMA,
        "isDeviceOnlyAuthSupported": SCHEMA, "isFallbackPublicClient": SCHEMA, "notes": SCHEMA,
        "publisherDomain": SCHEMA, "serviceManagementReference": SCHEMA,
        "signInAudience": SCHEMA, "tags": SCHEMA, "tokenEncryptionKeyId": SCHEMA,
        "defaultRedirectUri": SCHEMA, "certification": SCHEMA, "optionalClaims": SCHEMA,
        "addIns": SCHEMA,
        "api": {"acceptMappedClaims": None, "knownClientApplications": [],
                "requestedAccessTokenVersion": None, "oauth2PermissionScopes": [],
                "preAuthorizedApplications": []},
        "appRoles": SCHEMA, "info": _INFO, "keyCredentials": SCHEMA,
        "parentalControlSettings": {"countriesBlockedForMinors": [],
                                    "legalAgeGroupRule": "Allow"},
        "passwordCredentials": SCHEMA, "publicClient": {"redirectUris": []},
        "requiredResourceAccess": SCHEMA, "verifiedPublisher": _VERIFIED_PUBLISHER,
        "web": {"homePageUrl": None, "logoutUrl": None, "redirectUris": [],
                "implicitGrantSettings": {"enableAccessTokenIssuance": False,
                                          "enableIdTokenIssuance": False}},
        "spa": {"redirectUris": []},
    },
    "servicePrincipal": {
        "id": SCHEMA, "deletedDateTime": SCHEMA, "accountEnabled": True,
        "alternativeNames": SCHEMA, "appDisplayName": SCHEMA, "appDescription": SCHEMA,
        "appId": SCHEMA, "applicationTemplateId": SCHEMA, "appOwnerOrganizationId": SCHEMA,
        "appRoleAssignmentRequired": False,
        # Served though v1.0's CSDL does not declare it on servicePrincipal.
        "createdDateTime": None,
        "description": SCHEMA, "disabledByMicrosoftStatus": SCHEMA, "displayName": SCHEMA,
        "homepage": SCHEMA, "loginUrl": SCHEMA, "logoutUrl": SCHEMA, "notes": SCHEMA,
        "notificationEmailAddresses": SCHEMA, "preferredSingleSignOnMode": SCHEMA,
        "preferredTokenSigningKeyThumbprint": SCHEMA, "replyUrls": SCHEMA,
        "servicePrincipalNames": SCHEMA, "servicePrincipalType": "Application",
        "signInAudience": SCHEMA, "tags": SCHEMA, "tokenEncryptionKeyId": SCHEMA,
        "samlSingleSignOnSettings": SCHEMA, "verifiedPublisher": _VERIFIED_PUBLISHER,
        "addIns": SCHEMA, "appRoles": SCHEMA, "info": _INFO, "keyCredentials": SCHEMA,
        "oauth2PermissionScopes": SCHEMA, "passwordCredentials": SCHEMA,
        "resourceSpecificApplicationPermissions": SCHEMA,
    },
    "appRoleAssignment": {
        "id": SCHEMA, "deletedDateTime": SCHEMA, "appRoleId": SCHEMA,
        "createdDateTime": SCHEMA, "principalDisplayName": SCHEMA, "principalId": SCHEMA,
        "principalType": SCHEMA, "resourceDisplayName": SCHEMA, "resourceId": SCHEMA,
    },
    # Not in the CSDL extract: every default is given here.
    "oAuth2PermissionGrant": {
        "clientId": None, "consentType": None, "id": None, "principalId": None,
        "resourceId": None, "scope": None,
    },
    "user": {  # the default projection of /users and /me: id comes last
        "businessPhones": [], "displayName": None, "givenName": None, "jobTitle": None,
        "mail": None, "mobilePhone": None, "officeLocation": None, "preferredLanguage": None,
        "surname": None, "userPrincipalName": None, "id": None,
    },
    "organization": {
        "id": None, "deletedDateTime": None, "businessPhones": [], "city": None,
        "country": None, "countryLetterCode": None, "createdDateTime": None,
        "displayName": None, "isMultipleDataLocationsForServicesEnabled": None,
        "marketingNotificationEmails": [], "onPremisesLastSyncDateTime": None,
        "onPremisesSyncEnabled": None, "partnerTenantType": None, "postalCode": None,
        "preferredLanguage": None, "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [], "state": None, "street": None,
        "technicalNotificationMails": [], "tenantType": "AAD",
        "directorySizeQuota": {"used": 0, "total": 50000},
        "assignedPlans": [], "privacyProfile": {"contactEmail": None, "statementUrl": None},
        "provisionedPlans": [], "verifiedDomains": [],
    },
}


#: Graph's projection of complex values a client gives (an app's ``appRoles``, its
#: ``optionalClaims``' claims…): the properties Graph fills in when the client leaves them
#: out, by complex type, as in :data:`PROJECTIONS`. (Not every declared property: Graph
#: serves no ``origin`` on a permissionScope though the CSDL declares one.)
ITEM_PROJECTIONS: dict[str, dict[str, Any]] = {
    "appRole": {"allowedMemberTypes": SCHEMA, "description": SCHEMA, "displayName": SCHEMA,
                "id": SCHEMA, "isEnabled": True, "origin": "Application", "value": SCHEMA},
    "permissionScope": {"adminConsentDescription": SCHEMA, "adminConsentDisplayName": SCHEMA,
                        "id": SCHEMA, "isEnabled": True, "type": SCHEMA,
                        "userConsentDescription": SCHEMA, "userConsentDisplayName": SCHEMA,
                        "value": SCHEMA},
    "optionalClaim": {"additionalProperties": SCHEMA, "essential": False, "name": SCHEMA,
                      "source": SCHEMA},
    "resourceSpecificPermission": {"description": SCHEMA, "displayName": SCHEMA, "id": SCHEMA,
                                   "isEnabled": True, "value": SCHEMA},
}


def _complete(type_name: str, value: Any) -> Any:
    """A complex value (or a collection of them) with the properties Graph fills in."""
    if isinstance(value, list):
        return [_complete(type_name, v) for v in value]
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for name, default in ITEM_PROJECTIONS.get(type_name, {}).items():
        if name not in out:
            out[name] = _default(type_name, name, default)
    declared = entity_properties(type_name)
    for name, item in out.items():
        spec = declared.get(name)
        if spec is not None and not spec["type"].startswith("Edm.") and isinstance(
                item, dict | list):
            out[name] = _complete(spec["type"], item)
    return out


@cache
def _collections(entity: str) -> frozenset[str]:
    """The collection-valued properties of ``entity`` in the CSDL extract."""
    return frozenset(n for n, spec in entity_properties(entity).items() if spec["collection"])


def _default(entity: str, name: str, value: Any) -> Any:
    if value is not SCHEMA:
        return copy.deepcopy(value)
    return [] if name in _collections(entity) else None


def overlay(base: Any, over: Any) -> Any:
    """``over`` laid on ``base``: objects merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = overlay(base.get(key), value) if key in base else value
        return out
    return over


def full_entity(entity: str, values: dict[str, Any]) -> dict[str, Any]:
    """``entity`` as Graph serves it: its whole default projection, ``values`` laid on it
    (their complex objects merged into the defaults), extra names of ``values`` kept last."""
    projection = PROJECTIONS[entity]
    out = {name: _default(entity, name, d) for name, d in projection.items()}
    return _complete(entity, overlay(out, values))  # type: ignore[no-any-return]


def content_headers(status: int, has_body: bool) -> dict[str, str]:
    """``Content-Type`` (and ``OData-Version`` on success) of an answer with a body; none
    for an empty one (204)."""
    if not has_body:
        return {}
    if status >= 400:
        return {"Content-Type": ERROR_JSON}
    return {"Content-Type": ODATA_JSON, "OData-Version": "4.0"}


#: The directory-object type names of ``Location`` after a create.
_DIRECTORY_TYPES = {"application": "Application", "servicePrincipal": "ServicePrincipal"}


def location(graph_url: str, tenant_id: str, entity: str, object_id: str) -> str:
    """The ``Location`` of a created object (the v2 directory URL, not the v1.0 one)."""
    if entity == "oAuth2PermissionGrant":
        return f"{graph_url}/v2/{tenant_id}/oauth2PermissionGrants/{object_id}"
    kind = _DIRECTORY_TYPES[entity]
    return (f"{graph_url}/v2/{tenant_id}/directoryObjects/{object_id}/"
            f"Microsoft.DirectoryServices.{kind}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def grant_id(client_id: str, resource_id: str) -> str:
    """An ``oAuth2PermissionGrant`` id: base64url (no padding) of the client's and the
    resource's GUIDs, each in its little-endian byte form (43 characters)."""
    return _b64url(uuid.UUID(client_id).bytes_le + uuid.UUID(resource_id).bytes_le)


def assignment_id(principal_id: str, unique: str) -> str:
    """An ``appRoleAssignment`` id: base64url of the principal's GUID (little-endian bytes)
    and 16 more bytes (``unique``, a GUID) — so it starts with the principal."""
    return _b64url(uuid.UUID(principal_id).bytes_le + uuid.UUID(unique).bytes_le)


def principal_of_assignment(assignment: str) -> str | None:
    """The principal GUID an ``appRoleAssignment`` id starts with, or ``None``."""
    try:
        raw = base64.urlsafe_b64decode(assignment + "=" * (-len(assignment) % 4))
    except (ValueError, TypeError):
        return None
    return str(uuid.UUID(bytes_le=raw[:16])) if len(raw) >= 16 else None


def iso7(ts: float) -> str:
    """A create answer's timestamp: UTC with 7 fractional digits (``…05.7090167Z``)."""
    whole = int(ts // 1)
    ticks = int(round((ts - whole) * 10_000_000))
    if ticks >= 10_000_000:
        whole, ticks = whole + 1, 0
    stamp = dt.datetime.fromtimestamp(whole, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ticks:07d}Z"


_DOTNET_NAMES = {"ST": "S", "emailAddress": "E", "1.2.840.113549.1.9.1": "E"}


def subject_display_name(cert: x509.Certificate) -> str:
    """The ``displayName`` Entra gives a keyCredential added without one: the subject in
    .NET's form (:func:`dotnet_name`)."""
    parts: list[tuple[str, str]] = []
    for rdn in reversed(list(cert.subject.rdns)):
        for attr in rdn:
            short = attr.rfc4514_string().split("=", 1)[0]
            parts.append((short, str(attr.value)))
    return dotnet_name(parts)


def dotnet_name(rfc4514_parts: list[tuple[str, str]]) -> str:
    """A certificate subject as Entra writes a keyCredential's default ``displayName``:
    .NET's form, most specific first, ``S=`` for the state, joined by ``", "``
    (``O=Internet Widgits Pty Ltd, S=Some-State, C=AU``). ``rfc4514_parts``: the
    (short name, value) pairs in RFC 4514 order (most specific first)."""
    out = []
    for name, value in rfc4514_parts:
        if value != value.strip() or any(c in value for c in ',+="<>#;\n'):
            value = '"' + value.replace('"', '""') + '"'
        out.append(f"{_DOTNET_NAMES.get(name, name)}={value}")
    return ", ".join(out)
