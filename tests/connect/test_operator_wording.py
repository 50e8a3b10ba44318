"""What the operator is told: once, in the right unit, with honest counts."""

from __future__ import annotations

import io
import os
import pty
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from vdc_tui.cli.output import Reporter
from vdc_tui.connect.errors import ProvisioningFailed, ServiceUnavailable
from vdc_tui.connect.microsoft.clouds import resolve_endpoints
from vdc_tui.connect.microsoft.graph import GraphClient
from vdc_tui.connect.models import CheckStatus, DeviceCode
from vdc_tui.connect.store.profiles import ProfileStore

ENDPOINTS = resolve_endpoints("global")


def code(lifetime: int) -> DeviceCode:
    return DeviceCode(
        user_code="ABCD1234", verification_uri="https://microsoft.com/devicelogin",
        expires_at=datetime.now(UTC) + timedelta(seconds=lifetime), expires_in=lifetime,
        interval=1, message="",
    )


@pytest.mark.parametrize(("lifetime", "said"), [(20, "in about 20 s"), (59, "in about 59 s"),
                                                 (900, "in about 15 min")])
def test_a_code_lifetime_is_said_in_seconds_below_a_minute(lifetime: int, said: str) -> None:
    err = io.StringIO()
    Reporter(json_mode=False, out=io.StringIO(), err=err).device_code(code(lifetime))
    assert said in err.getvalue()


def test_a_failure_shown_as_a_fail_line_is_not_printed_again() -> None:
    err = io.StringIO()
    reporter = Reporter(json_mode=False, out=io.StringIO(), err=err)
    error = ProvisioningFailed("provisioning_failed", "Granting failed: HTTP 403.",
                               "Sign in as a Global Administrator.")
    reporter.check(CheckStatus.FAIL, "Grant the permissions", error.message, error.remediation)
    reporter.failure(error)
    text = err.getvalue()
    assert text.count("Granting failed: HTTP 403.") == 1
    assert text.count("Sign in as a Global Administrator.") == 1
    assert "[provisioning_failed]" in text


def test_a_failure_not_shown_before_is_printed_with_its_fix() -> None:
    err = io.StringIO()
    Reporter(json_mode=False, out=io.StringIO(), err=err).failure(
        ServiceUnavailable("Graph is down.", "Try later."))
    assert "error: Graph is down. [service_unavailable]" in err.getvalue()
    assert "fix: Try later." in err.getvalue()


def test_reporting_survives_a_hung_up_terminal() -> None:
    controller, follower = pty.openpty()
    os.close(controller)  # the terminal hangs up: writes to it fail with EIO
    with os.fdopen(follower, "w") as gone:
        reporter = Reporter(json_mode=True, out=gone, err=gone)
        reporter.check(CheckStatus.PASS, "Read the tenant", "Contoso")
        reporter.failure(ServiceUnavailable("Graph is down."))  # no exception


async def test_a_dropped_create_says_it_was_sent_once() -> None:
    sent: list[httpx.Request] = []

    def drop(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise httpx.RemoteProtocolError("dropped", request=request)

    async def no_wait(seconds: float) -> None:
        return None

    client = GraphClient(ENDPOINTS, "token", sleep=no_wait,
                         client=httpx.AsyncClient(transport=httpx.MockTransport(drop)))
    with pytest.raises(ServiceUnavailable) as caught:
        await client.post("/applications", {"displayName": "x"})
    assert len(sent) == 1
    assert "sent once" in caught.value.message and "tries" not in caught.value.message
    assert caught.value.details["tries"] == 1


async def test_a_retried_read_counts_the_tries_it_sent() -> None:
    sent: list[httpx.Request] = []

    def drop(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise httpx.RemoteProtocolError("dropped", request=request)

    async def no_wait(seconds: float) -> None:
        return None

    client = GraphClient(ENDPOINTS, "token", sleep=no_wait, max_attempts=3,
                         client=httpx.AsyncClient(transport=httpx.MockTransport(drop)))
    with pytest.raises(ServiceUnavailable) as caught:
        await client.get("/organization")
    assert len(sent) == 3 and "after 3 tries" in caught.value.message


@pytest.mark.skipif(os.name != "posix", reason="folder modes are POSIX")
def test_a_tenant_folder_opened_to_0755_is_reported(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "home")
    store.check_usable()
    tenant = store.tenant_dir("72f988bf-86f1-41af-91ab-2d7cd011db47")
    tenant.mkdir(mode=0o700)
    os.chmod(tenant, 0o755)
    store.list()
    assert any(str(tenant) in w and "0755" in w for w in store.warnings)
