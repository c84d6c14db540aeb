"""The Host and Origin policies as pure functions (the middleware is tested against real
processes in tests/hardening/test_rebinding.py and test_cross_site.py)."""

from __future__ import annotations

import pytest

from service_kit.host_origin import (
    HostPolicy,
    OriginPolicy,
    parse_allowed_hosts,
    same_origin,
    split_authority,
    wildcard_needs_token,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost", ("localhost", None)),
        ("LocalHost.:8000", ("localhost", 8000)),
        ("127.0.0.1:1", ("127.0.0.1", 1)),
        ("[::1]:8000", ("::1", 8000)),
        ("[0:0:0:0:0:0:0:1]", ("::1", None)),
        ("models.example.test", ("models.example.test", None)),
        ("", None),
        (":8000", None),
        ("::1", None),  # IPv6 must be bracketed
        ("[::1", None),
        ("[::1]x", None),
        ("a.test:", None),
        ("a.test:http", None),
        ("a.test:123456", None),
        ("a.test:65536", None),
        ("user@a.test", None),
        ("a.test/path", None),
    ],
)
def test_split_authority(value: str, expected: tuple[str, int | None] | None) -> None:
    assert split_authority(value) == expected


def test_loopback_is_always_allowed_and_nothing_else_by_default() -> None:
    policy = HostPolicy.build("127.0.0.1", [])
    for host in ("localhost", "127.0.0.1:8000", "127.255.0.9", "[::1]:1", "LOCALHOST."):
        assert policy.allows(host), host
    for host in ("evil.example", "0.0.0.0", "[::]", "127.0.0.1.evil.example", "10.0.0.1", ""):
        assert not policy.allows(host), host


def test_the_bound_address_is_allowed_unless_it_names_every_address() -> None:
    assert HostPolicy.build("192.0.2.10", []).allows("192.0.2.10:8000")
    assert HostPolicy.build("models.lan", []).allows("MODELS.LAN:8000")
    assert HostPolicy.build("[2001:db8::1]", []).allows("[2001:db8:0::1]:80")
    for unspecified in ("0.0.0.0", "::"):
        policy = HostPolicy.build(unspecified, [])
        assert not policy.allows(unspecified) and not policy.allows(f"[{unspecified}]")


def test_listed_names_and_the_wildcard() -> None:
    listed = HostPolicy.build("0.0.0.0", ["a.test", "192.0.2.1"])
    assert listed.allows("a.test:1") and listed.allows("192.0.2.1")
    assert not listed.allows("b.a.test") and not listed.allows("a.test.evil.example")
    assert HostPolicy.build("0.0.0.0", ["*"]).allows("anything.example:9")


def test_parse_allowed_hosts() -> None:
    assert parse_allowed_hosts(" A.test, [::1] ,*,") == ["a.test", "::1", "*"]
    for bad in ("a.test:8000", "http://a.test", "a.test/x", "[::1]:1"):
        with pytest.raises(ValueError, match="no port"):
            parse_allowed_hosts(bad)


def test_wildcard_needs_a_token() -> None:
    with pytest.raises(ValueError, match="X_ALLOWED_HOSTS='\\*' needs X_TOKEN"):
        wildcard_needs_token(["*"], False, hosts_var="X_ALLOWED_HOSTS", token_var="X_TOKEN")
    wildcard_needs_token(["*"], True, hosts_var="X_ALLOWED_HOSTS", token_var="X_TOKEN")
    wildcard_needs_token(["a.test"], False, hosts_var="X_ALLOWED_HOSTS", token_var="X_TOKEN")


@pytest.mark.parametrize(
    ("origin", "host", "expected"),
    [
        ("http://a.test:8000", "a.test:8000", True),
        ("https://a.test:8000", "a.test:8000", True),  # scheme not compared
        ("http://a.test", "a.test", True),
        ("https://a.test", "a.test", True),
        ("http://a.test", "a.test:80", True),
        ("https://a.test", "a.test:443", True),
        ("http://A.TEST:8000", "a.test:8000", True),
        ("http://[::1]:8000", "[::1]:8000", True),
        ("http://a.test:8001", "a.test:8000", False),
        ("http://a.test:8080", "a.test", False),
        ("https://a.test", "a.test:80", False),
        ("http://b.test:8000", "a.test:8000", False),
        ("null", "a.test", False),
        ("ftp://a.test", "a.test", False),
        ("http://a.test:8000/", "a.test:8000", False),
        ("http://u@a.test:8000", "a.test:8000", False),
        ("http://a.test:99999", "a.test:99999", False),
    ],
)
def test_same_origin(origin: str, host: str, expected: bool) -> None:
    assert same_origin(origin, host) is expected


def test_origin_policy() -> None:
    default = OriginPolicy.build([])
    for origin in ("http://localhost:3000", "https://127.0.0.1", "http://[::1]:5173"):
        assert default.allows(origin, None), origin
    for origin in ("http://evil.example", "null", "http://localhost.evil.example"):
        assert not default.allows(origin, None), origin
    listed = OriginPolicy.build(["https://ui.test"])
    assert listed.allows("https://ui.test", None)
    assert not listed.allows("http://localhost:3000", None)  # a list replaces the default
    assert listed.allows("http://models.lan:8000", "models.lan:8000")  # its own origin
    assert not listed.allows("http://models.lan:8000", None)  # no allowed Host: not its own
