"""Number options: the value in range, or a usage error in the option's own words."""

from __future__ import annotations

import argparse

import pytest

from vdc_tui.cli.argtypes import ranged

port = ranged(int, lambda v: 0 <= v <= 65535, unreadable="not a port number: {text}",
              out_of_range="must be between 1 and 65535")
seconds = ranged(float, lambda v: 0 < v <= 120, unreadable="not a number of seconds: {text}",
                 out_of_range="{text} is out of range")


def test_values_at_the_bounds_are_kept_with_their_type() -> None:
    assert port("0") == 0 and isinstance(port("0"), int)
    assert port("65535") == 65535
    assert seconds("120") == 120.0 and isinstance(seconds("0.5"), float)


@pytest.mark.parametrize(("parse", "text", "words"), [
    (port, "65536", "must be between 1 and 65535"),
    (port, "-1", "must be between 1 and 65535"),
    (port, "8443.5", "not a port number: '8443.5'"),
    (seconds, "0", "'0' is out of range"),
    (seconds, "nan", "'nan' is out of range"),
    (seconds, "inf", "'inf' is out of range"),
    (seconds, "soon", "not a number of seconds: 'soon'"),
])
def test_a_wrong_value_is_a_usage_error_in_the_options_words(parse: object, text: str,
                                                             words: str) -> None:
    assert callable(parse)
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        parse(text)
    assert str(raised.value) == words


@pytest.mark.parametrize("argv", [
    ["connections", "renew", "--all", "--concurrency", "0"],
    ["connections", "check", "--all", "--concurrency", "257"],
    ["connections", "renew", "--all", "--within", "-1"],
])
def test_connections_number_options_out_of_range_exit_2(argv: list[str],
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    from vdc_tui.cli.main import main

    assert main(argv) == 2
    assert "argument --" in capsys.readouterr().err


def test_a_guid_is_kept_in_canonical_form() -> None:
    from vdc_tui.cli.argtypes import guid

    assert guid("{AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE}") == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    assert guid("aaaaaaaabbbbccccddddeeeeeeeeeeee") == "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


@pytest.mark.parametrize("argv", [
    ["--client-id", "not-a-guid"],
    ["--client-id", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeee"],
    ["connect", "auto", "--client-id", "contoso.com", "--json"],
])
def test_a_client_id_that_is_not_a_guid_is_invalid_argument(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from vdc_tui.cli.main import main

    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "argument --client-id: not a GUID" in captured.err
    if "--json" in argv:
        assert json.loads(captured.out)["error"]["code"] == "invalid_argument"
