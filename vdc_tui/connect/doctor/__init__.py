"""``vdc-tui doctor``: can this machine do an onboarding?

Every check gives one line (pass / warn / fail) with what was found and, when it is not a
pass, how to fix it. The checks must work on a machine without any network and finish
quickly there: name resolution and HTTPS requests have short timeouts, and a name that
does not resolve is a ``fail`` line saying so rather than an exception.

Where each piece lives: :mod:`.report` (a report line), :mod:`.network`, :mod:`.terminal`,
:mod:`.profiles`; :func:`run_doctor` runs them all.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path

from vdc_tui.connect.doctor.keys import key_storage_check
from vdc_tui.connect.doctor.network import (
    CLOCK_SIGN_IN_LIMIT,
    CLOCK_WARN_SECONDS,
    clock_check,
    probe,
    proxy_check,
    redact_url,
    url_host,
    url_port,
)
from vdc_tui.connect.doctor.profiles import profile_folder_check
from vdc_tui.connect.doctor.report import DoctorCheck, check
from vdc_tui.connect.doctor.terminal import terminal_checks
from vdc_tui.connect.microsoft.clouds import Endpoints
from vdc_tui.connect.models import CheckStatus
from vdc_tui.connect.terminal import MIN_COLUMNS, MIN_LINES


async def run_doctor(
    endpoints: Endpoints,
    home: Path,
    *,
    timeout: float = 4.0,
    env: Mapping[str, str] | None = None,
) -> list[DoctorCheck]:
    """Run every check; never raises for a missing network (those are FAIL lines).

    Args:
        endpoints: The cloud (and overrides) whose hosts are probed.
        home: The profile folder to inspect.
        timeout: Seconds allowed for each name lookup and each HTTPS request.
        env: Environment to read (proxy, terminal variables); default ``os.environ``.
    """
    env = dict(os.environ if env is None else env)
    checks: list[DoctorCheck] = [
        check(
            "cloud",
            "network",
            "Cloud",
            CheckStatus.PASS,
            f"{endpoints.cloud.label}: sign-in {endpoints.authority_host}, "
            f"Graph {endpoints.graph_url}"
            + (f", trusting {endpoints.ca_bundle}" if endpoints.ca_bundle else "")
            + (" (custom endpoints)" if endpoints.is_custom else "")
            + ".",
        ),
        proxy_check(endpoints, env),
    ]
    targets = [
        (
            "sign-in (authority)",
            f"{endpoints.authority_host}/organizations/v2.0/.well-known/openid-configuration",
        )
    ]
    if url_host(endpoints.graph_url) != url_host(endpoints.authority_host) or url_port(
        endpoints.graph_url
    ) != url_port(endpoints.authority_host):
        targets.append(("Microsoft Graph", f"{endpoints.graph_v1}/organization"))
    probes = await asyncio.gather(*(probe(n, u, endpoints, env, timeout) for n, u in targets))
    for done in probes:
        checks.extend(done.checks)
    dated = next((p for p in probes if p.server_date is not None), None)
    checks.append(
        clock_check(
            dated.server_date if dated else None,
            dated.local_time if dated else None,
            "the sign-in server" if dated is probes[0] else "Microsoft Graph",
        )
    )
    checks.extend(terminal_checks(env))
    checks.append(profile_folder_check(home))
    checks.append(key_storage_check(home, env))
    return checks


__all__ = [
    "CLOCK_SIGN_IN_LIMIT",
    "CLOCK_WARN_SECONDS",
    "MIN_COLUMNS",
    "MIN_LINES",
    "DoctorCheck",
    "clock_check",
    "profile_folder_check",
    "proxy_check",
    "redact_url",
    "run_doctor",
    "terminal_checks",
]
