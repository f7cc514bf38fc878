"""`urlpolicy`: which addresses are forbidden, URL syntax checks, and registration checks (SSRF)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from webhook_resend.urlpolicy import (
    MAX_URL_LENGTH,
    UrlRefusedError,
    check_syntax,
    check_url,
    is_forbidden_address,
)


def fake_resolver(answers: dict[str, list[str]]) -> Callable[[str], list[str]]:
    """A resolver backed by a dict; names it does not know do not resolve."""
    return lambda host: list(answers.get(host, []))


# -- is_forbidden_address -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "address",
    [
        pytest.param("127.0.0.1", id="loopback-v4"),
        pytest.param("127.255.255.254", id="loopback-v4-range"),
        pytest.param("::1", id="loopback-v6"),
        pytest.param("10.0.0.1", id="private-10/8"),
        pytest.param("10.255.255.255", id="private-10/8-top"),
        pytest.param("172.16.0.1", id="private-172.16/12"),
        pytest.param("172.31.255.254", id="private-172.16/12-top"),
        pytest.param("192.168.1.1", id="private-192.168/16"),
        pytest.param("169.254.0.1", id="link-local-v4"),
        pytest.param("169.254.169.254", id="cloud-metadata"),
        pytest.param("fe80::1", id="link-local-v6"),
        pytest.param("fe80::1%eth0", id="link-local-v6-with-zone"),
        pytest.param("100.64.0.1", id="cgnat"),
        pytest.param("100.127.255.254", id="cgnat-top"),
        pytest.param("224.0.0.1", id="multicast-v4"),
        pytest.param("ff02::1", id="multicast-v6"),
        pytest.param("0.0.0.0", id="unspecified-v4"),  # noqa: S104 - an address under test, not a bind
        pytest.param("::", id="unspecified-v6"),
        pytest.param("240.0.0.1", id="reserved-v4"),
        pytest.param("255.255.255.255", id="broadcast"),
        pytest.param("fd00::1", id="ula-v6"),
        pytest.param("::ffff:127.0.0.1", id="mapped-loopback"),
        pytest.param("::ffff:169.254.169.254", id="mapped-metadata"),
        pytest.param("::ffff:10.0.0.1", id="mapped-private"),
        pytest.param("::ffff:192.168.0.1", id="mapped-private-192"),
        pytest.param("::ffff:100.64.0.1", id="mapped-cgnat"),
        pytest.param("2002:7f00:1::", id="6to4-loopback"),
    ],
)
def test_is_forbidden_address_refuses_non_public(address):
    assert is_forbidden_address(address) is True


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "1.1.1.1",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700::1111",
        "2001:4860:4860::8888",
        "::ffff:8.8.8.8",
    ],
)
def test_is_forbidden_address_allows_public(address):
    assert is_forbidden_address(address) is False


# -- check_syntax ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://example.com/hook", "example.com"),
        ("http://example.com:8080/hook?x=1", "example.com"),
        ("https://EXAMPLE.com/", "example.com"),
        ("https://[2606:4700::1111]/hook", "2606:4700::1111"),
    ],
)
def test_check_syntax_returns_host(url, host):
    assert check_syntax(url) == host


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://example.com/",
        "//example.com/hook",
        "example.com/hook",
    ],
)
def test_check_syntax_refuses_non_http_schemes(url):
    with pytest.raises(UrlRefusedError, match="only http and https"):
        check_syntax(url)


@pytest.mark.parametrize("url", ["http://", "https:///path", "http://:8080/"])
def test_check_syntax_refuses_missing_host(url):
    with pytest.raises(UrlRefusedError, match="no host"):
        check_syntax(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@example.com/hook",
        "https://user@example.com/hook",
        "https://:pass@example.com/hook",
    ],
)
def test_check_syntax_refuses_userinfo(url):
    with pytest.raises(UrlRefusedError, match="credentials"):
        check_syntax(url)


def test_check_syntax_refuses_too_long_url():
    url = "https://example.com/" + "a" * MAX_URL_LENGTH

    with pytest.raises(UrlRefusedError, match="longer than"):
        check_syntax(url)


def test_check_syntax_accepts_url_at_max_length():
    url = "https://example.com/"
    url += "a" * (MAX_URL_LENGTH - len(url))

    assert check_syntax(url) == "example.com"


def test_check_syntax_refuses_port_zero():
    with pytest.raises(UrlRefusedError, match="port 0"):
        check_syntax("https://example.com:0/hook")


@pytest.mark.parametrize("url", ["https://example.com:99999/", "https://example.com:abc/"])
def test_check_syntax_refuses_invalid_port(url):
    with pytest.raises(UrlRefusedError, match="not a valid URL"):
        check_syntax(url)


# -- check_url, deployed mode (allow_private=False) -----------------------------------------------
def test_check_url_refuses_name_resolving_to_private_address():
    resolver = fake_resolver({"hooks.example.com": ["10.1.2.3"]})

    with pytest.raises(UrlRefusedError, match=r"10\.1\.2\.3"):
        check_url("https://hooks.example.com/in", allow_private=False, resolver=resolver)


def test_check_url_refuses_when_any_answer_is_private():
    resolver = fake_resolver({"hooks.example.com": ["93.184.216.34", "169.254.169.254"]})

    with pytest.raises(UrlRefusedError, match=r"169\.254\.169\.254"):
        check_url("https://hooks.example.com/in", allow_private=False, resolver=resolver)


def test_check_url_accepts_name_resolving_to_public_address():
    resolver = fake_resolver({"hooks.example.com": ["93.184.216.34", "2606:4700::1111"]})

    assert check_url("https://hooks.example.com/in", allow_private=False, resolver=resolver) is None


def test_check_url_accepts_unresolvable_name():
    asked: list[str] = []

    def resolver(host: str) -> list[str]:
        asked.append(host)
        return []

    assert check_url("https://not-yet.example.com/in", allow_private=False, resolver=resolver) is None
    assert asked == ["not-yet.example.com"]


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://10.0.0.1/hook", "10.0.0.1"),
        ("http://127.0.0.1:8080/hook", "127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::1]/hook", "::1"),
        ("http://[::ffff:127.0.0.1]/hook", "::ffff:7f00:1"),  # named in compressed form
        ("http://[fd00::1]/hook", "fd00::1"),
    ],
)
def test_check_url_refuses_literal_private_ip(url, address):
    never = fake_resolver({})

    with pytest.raises(UrlRefusedError) as caught:
        check_url(url, allow_private=False, resolver=never)

    assert address in str(caught.value)


@pytest.mark.parametrize(
    "url", ["http://localhost/hook", "http://LOCALHOST:8080/hook", "http://api.localhost/hook"]
)
def test_check_url_refuses_localhost(url):
    # The resolver would not know the name: localhost must be refused without asking DNS.
    with pytest.raises(UrlRefusedError, match="loopback"):
        check_url(url, allow_private=False, resolver=fake_resolver({}))


def test_check_url_accepts_literal_public_ip():
    assert check_url("https://93.184.216.34/hook", allow_private=False, resolver=fake_resolver({})) is None


def test_check_url_checks_syntax_first():
    with pytest.raises(UrlRefusedError, match="only http and https"):
        check_url("ftp://example.com/", allow_private=False, resolver=fake_resolver({}))


# -- check_url, local mode (allow_private=True) ---------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in",
        "http://10.0.0.1/hook",
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/",
        "http://[::1]/hook",
        "http://localhost:8080/hook",
    ],
)
def test_check_url_allow_private_accepts(url):
    resolver = fake_resolver({"hooks.example.com": ["10.1.2.3"]})

    assert check_url(url, allow_private=True, resolver=resolver) is None


def test_check_url_allow_private_still_checks_syntax():
    with pytest.raises(UrlRefusedError, match="credentials"):
        check_url("http://user:pw@localhost/", allow_private=True, resolver=fake_resolver({}))
