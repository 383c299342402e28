"""Webhook signatures and source-IP checks."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.http.client_ip import (
    IpRules,
    client_ip,
    parse_networks,
    require_allowed,
)
from entrypoints.http.webhooks.signatures import sign, verify_signature
from wallet_core.errors import InvalidSignature, IpNotAllowed, StaleSignature

SECRET = "whsec_current"
OLD_SECRET = "whsec_previous"
NOW = 1_767_225_600
BODY = b'{"transactionId":"tx-1","status":"COMPLETED"}'


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def legacy(body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    return {"X-Paysend-Signature": sign(body, secret, NOW)["X-Paysend-Signature"]}


def stamped(body: bytes = BODY, secret: str = SECRET, at: int = NOW) -> dict[str, str]:
    return {"X-Signature": sign(body, secret, at)["X-Signature"]}


# Signatures: accepted -------------------------------------------------------------------------


def test_sign_produces_both_headers() -> None:
    headers = sign(BODY, SECRET, NOW)
    assert headers["X-Paysend-Signature"] == hmac_hex(SECRET, BODY)
    assert headers["X-Signature"] == f"t={NOW},v1={hmac_hex(SECRET, f'{NOW}.'.encode() + BODY)}"


def test_sign_defaults_to_the_current_time() -> None:
    headers = sign(BODY, SECRET, None)
    stamp = int(headers["X-Signature"].split(",")[0].removeprefix("t="))
    assert abs(stamp - time.time()) < 5
    verify_signature(BODY, headers, [SECRET], now=time.time())


@pytest.mark.parametrize("headers", [legacy(), stamped(), sign(BODY, SECRET, NOW)])
def test_valid_signatures_verify(headers: dict[str, str]) -> None:
    verify_signature(BODY, headers, [SECRET], now=NOW)


@pytest.mark.parametrize("transform", [str.lower, str.upper])
def test_header_names_are_case_insensitive(transform: Callable[[str], str]) -> None:
    for headers in (legacy(), stamped()):
        renamed = {transform(name): value for name, value in headers.items()}
        verify_signature(BODY, renamed, [SECRET], now=NOW)


def test_upper_case_hex_is_accepted() -> None:
    headers = {"X-Paysend-Signature": hmac_hex(SECRET, BODY).upper()}
    verify_signature(BODY, headers, [SECRET], now=NOW)


def test_any_configured_secret_may_sign() -> None:
    for secret in (SECRET, OLD_SECRET):
        verify_signature(BODY, legacy(secret=secret), [SECRET, OLD_SECRET], now=NOW)
        verify_signature(BODY, stamped(secret=secret), [SECRET, OLD_SECRET], now=NOW)


def test_any_one_of_several_v1_values_suffices() -> None:
    message = f"{NOW}.".encode() + BODY
    header = f"t={NOW},v1={hmac_hex('unknown', message)}, v1={hmac_hex(SECRET, message)}"
    verify_signature(BODY, {"X-Signature": header}, [SECRET], now=NOW)


def test_unknown_schemes_are_ignored() -> None:
    header = f"t={NOW},v0=whatever,v1={hmac_hex(SECRET, f'{NOW}.'.encode() + BODY)}"
    verify_signature(BODY, {"X-Signature": header}, [SECRET], now=NOW)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_tolerance_verify(offset: int) -> None:
    verify_signature(BODY, stamped(at=NOW + offset), [SECRET], now=NOW)


# Signatures: refused --------------------------------------------------------------------------


@pytest.mark.parametrize("make", [legacy, stamped])
def test_wrong_secret_is_refused(make: Callable[..., dict[str, str]]) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, make(secret="attacker"), [SECRET], now=NOW)


@pytest.mark.parametrize("make", [legacy, stamped])
def test_tampered_body_is_refused(make: Callable[..., dict[str, str]]) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(BODY.replace(b"tx-1", b"tx-2"), make(), [SECRET], now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400])
def test_stale_or_future_timestamps_are_refused(offset: int) -> None:
    with pytest.raises(StaleSignature):
        verify_signature(BODY, stamped(at=NOW + offset), [SECRET], now=NOW)


def test_tolerance_is_configurable() -> None:
    headers = stamped(at=NOW - 120)
    verify_signature(BODY, headers, [SECRET], now=NOW, tolerance_seconds=120)
    with pytest.raises(StaleSignature):
        verify_signature(BODY, headers, [SECRET], now=NOW, tolerance_seconds=60)


def test_stale_is_reported_for_a_well_formed_header_before_the_hmac() -> None:
    with pytest.raises(StaleSignature):
        verify_signature(BODY, stamped(secret="attacker", at=NOW - 3600), [SECRET], now=NOW)


def test_replaying_a_timestamped_signature_with_another_time_fails() -> None:
    signature = stamped()["X-Signature"].split(",")[1]
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, {"X-Signature": f"t={NOW + 1},{signature}"}, [SECRET], now=NOW)


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/json"}])
def test_missing_header_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature, match="header is required"):
        verify_signature(BODY, headers, [SECRET], now=NOW)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        f"v1={'a' * 64}",
        f"t={NOW}",
        f"t={NOW},v1=",
        f"t={NOW},v1=xyz",
        f"t={NOW},v1={'g' * 64}",
        f"t={NOW},v1={'a' * 63}",
        f"t=abc,v1={'a' * 64}",
        f"t=-5,v1={'a' * 64}",
        f"t=1.5,v1={'a' * 64}",
        f"t=١٢٣,v1={'a' * 64}",
        f"t={'9' * 40},v1={'a' * 64}",
        f"t={NOW},t={NOW},v1={'a' * 64}",
        f"t={NOW};v1={'a' * 64}",
    ],
)
def test_malformed_timestamped_header_is_refused(value: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, {"X-Signature": value}, [SECRET], now=NOW)


@pytest.mark.parametrize("value", ["", "nothex", "sha256=" + "a" * 64, "a" * 65, "é" * 64])
def test_malformed_legacy_header_is_refused(value: str) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, {"X-Paysend-Signature": value}, [SECRET], now=NOW)


@pytest.mark.parametrize("secrets", [[], [""], ("", "")])
def test_no_secret_configured_refuses_everything(secrets: list[str]) -> None:
    for headers in (legacy(secret=""), stamped(secret=""), sign(BODY, SECRET, NOW)):
        with pytest.raises(InvalidSignature, match="No webhook secret"):
            verify_signature(BODY, headers, secrets, now=NOW)


def test_legacy_can_be_refused() -> None:
    with pytest.raises(InvalidSignature, match="X-Signature header is required"):
        verify_signature(BODY, legacy(), [SECRET], now=NOW, allow_legacy=False)
    verify_signature(BODY, stamped(), [SECRET], now=NOW, allow_legacy=False)


def test_timestamped_header_takes_precedence_over_legacy() -> None:
    headers = legacy() | {"X-Signature": f"t={NOW},v1={'0' * 64}"}
    with pytest.raises(InvalidSignature):
        verify_signature(BODY, headers, [SECRET], now=NOW)
    stale = legacy() | stamped(at=NOW - 3600)
    with pytest.raises(StaleSignature):
        verify_signature(BODY, stale, [SECRET], now=NOW)


def test_errors_carry_the_contract_codes() -> None:
    assert InvalidSignature().code == "invalid_signature"
    assert StaleSignature().code == "stale_signature"


# Signatures: properties -----------------------------------------------------------------------

secrets_st = st.text(min_size=1, max_size=40)
times_st = st.integers(min_value=0, max_value=10**11)


@given(body=st.binary(max_size=2048), secret=secrets_st, at=times_st)
def test_any_signed_body_verifies(body: bytes, secret: str, at: int) -> None:
    headers = sign(body, secret, at)
    verify_signature(body, headers, [secret], now=at)
    verify_signature(body, {"X-Paysend-Signature": headers["X-Paysend-Signature"]}, [secret], at)
    verify_signature(body, {"X-Signature": headers["X-Signature"]}, [secret], now=at)


@given(body=st.binary(min_size=1, max_size=512), data=st.data(), secret=secrets_st)
def test_any_single_byte_change_fails(body: bytes, data: st.DataObject, secret: str) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    replacement = data.draw(
        st.integers(min_value=0, max_value=255).filter(lambda b: b != body[index])
    )
    changed = body[:index] + bytes([replacement]) + body[index + 1 :]
    headers = sign(body, secret, NOW)
    for name in ("X-Paysend-Signature", "X-Signature"):
        with pytest.raises(InvalidSignature):
            verify_signature(changed, {name: headers[name]}, [secret], now=NOW)


@given(body=st.binary(max_size=256), extra=st.binary(min_size=1, max_size=8))
def test_appended_bytes_fail(body: bytes, extra: bytes) -> None:
    headers = sign(body, SECRET, NOW)
    for name in ("X-Paysend-Signature", "X-Signature"):
        with pytest.raises(InvalidSignature):
            verify_signature(body + extra, {name: headers[name]}, [SECRET], now=NOW)


@given(st.text(max_size=200))
def test_arbitrary_headers_never_crash(value: str) -> None:
    for name in ("X-Paysend-Signature", "X-Signature"):
        with pytest.raises((InvalidSignature, StaleSignature)):
            verify_signature(BODY, {name: value}, [SECRET], now=NOW)


# Networks -------------------------------------------------------------------------------------


def test_parse_networks_mixes_ips_cidrs_and_families() -> None:
    networks = parse_networks(" 10.0.0.0/8, 192.168.1.7 ,,::1/128, 2001:db8::/32,")
    assert networks == (
        IPv4Network("10.0.0.0/8"),
        IPv4Network("192.168.1.7/32"),
        IPv6Network("::1/128"),
        IPv6Network("2001:db8::/32"),
    )


def test_parse_networks_of_nothing_is_empty() -> None:
    assert parse_networks("") == ()
    assert parse_networks(" , ") == ()


@pytest.mark.parametrize("bad", ["10.0.0.256", "example.com", "10.0.0.0/33", "10.0.0.1/8", "::g"])
def test_parse_networks_names_the_bad_item(bad: str) -> None:
    with pytest.raises(ValueError, match=bad.replace(".", r"\.")):
        parse_networks(f"127.0.0.1/32, {bad}")


def test_ipv4_mapped_networks_become_ipv4() -> None:
    assert parse_networks("::ffff:10.0.0.0/104, ::ffff:1.2.3.4") == (
        IPv4Network("10.0.0.0/8"),
        IPv4Network("1.2.3.4/32"),
    )


# Client IP ------------------------------------------------------------------------------------

PROXIES = parse_networks("10.0.0.0/8, fd00::/8")


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_ip("203.0.113.9", None, ()) == IPv4Address("203.0.113.9")


def test_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip("203.0.113.9", "127.0.0.1", PROXIES) == IPv4Address("203.0.113.9")
    assert client_ip("203.0.113.9", "10.0.0.1", ()) == IPv4Address("203.0.113.9")


def test_trusted_proxy_reveals_the_client() -> None:
    assert client_ip("10.0.0.1", "198.51.100.4", PROXIES) == IPv4Address("198.51.100.4")


def test_forwarded_for_is_read_from_the_right() -> None:
    chain = "127.0.0.1, 198.51.100.4, 10.0.0.3, 10.0.0.2"
    assert client_ip("10.0.0.1", chain, PROXIES) == IPv4Address("198.51.100.4")


def test_when_every_hop_is_trusted_the_leftmost_is_the_client() -> None:
    assert client_ip("10.0.0.1", "10.0.0.3, 10.0.0.2", PROXIES) == IPv4Address("10.0.0.3")


def test_trusted_proxy_without_forwarded_for_is_the_client() -> None:
    assert client_ip("10.0.0.1", None, PROXIES) == IPv4Address("10.0.0.1")
    assert client_ip("10.0.0.1", "", PROXIES) == IPv4Address("10.0.0.1")


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        ("198.51.100.4, garbage", "10.0.0.1"),
        ("198.51.100.4, garbage, 10.0.0.2", "10.0.0.2"),
        ("198.51.100.4,, 10.0.0.2", "10.0.0.2"),
        ("198.51.100.4:8080", "10.0.0.1"),
        ("[2001:db8::1]", "10.0.0.1"),
        ("unknown", "10.0.0.1"),
    ],
)
def test_malformed_hops_stop_at_the_last_good_one(chain: str, expected: str) -> None:
    assert client_ip("10.0.0.1", chain, PROXIES) == ip_address(expected)


def test_ipv6_hops() -> None:
    assert client_ip("fd00::1", "2001:db8::7, fd00::2", PROXIES) == IPv6Address("2001:db8::7")


def test_ipv4_mapped_addresses_are_normalised() -> None:
    assert client_ip("::ffff:203.0.113.9", None, ()) == IPv4Address("203.0.113.9")
    mapped_proxy = client_ip("::ffff:10.0.0.1", "::ffff:198.51.100.4", PROXIES)
    assert mapped_proxy == IPv4Address("198.51.100.4")


@pytest.mark.parametrize("peer", [None, "", "testclient", "localhost"])
def test_unknown_peer_has_no_address(peer: str | None) -> None:
    assert client_ip(peer, "198.51.100.4", PROXIES) is None


@given(
    peer=st.ip_addresses(v=4).filter(lambda a: a not in IPv4Network("10.0.0.0/8")),
    forwarded=st.text(max_size=100),
)
def test_untrusted_peer_can_never_spoof(peer: IPv4Address, forwarded: str) -> None:
    assert client_ip(str(peer), forwarded, PROXIES) == peer


@given(hops=st.lists(st.ip_addresses(v=4), max_size=6))
def test_trusted_peer_answer_is_a_hop_or_the_peer(hops: list[IPv4Address]) -> None:
    found = client_ip("10.0.0.1", ", ".join(map(str, hops)), PROXIES)
    assert found in {IPv4Address("10.0.0.1"), *hops}


# Allowlists -----------------------------------------------------------------------------------

ALLOW = parse_networks("127.0.0.1/32, ::1/128, 203.0.113.0/24, 2001:db8:1::/48")


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "203.0.113.77", "2001:db8:1:ff::9"])
def test_allowlisted_addresses_pass(address: str) -> None:
    require_allowed(ip_address(address), ALLOW)


@pytest.mark.parametrize("address", ["127.0.0.2", "::2", "203.0.114.1", "2001:db8:2::1"])
def test_other_addresses_are_refused(address: str) -> None:
    with pytest.raises(IpNotAllowed):
        require_allowed(ip_address(address), ALLOW)


def test_unknown_address_is_refused() -> None:
    with pytest.raises(IpNotAllowed):
        require_allowed(None, ALLOW)


def test_mapped_address_matches_an_ipv4_allowlist() -> None:
    require_allowed(IPv6Address("::ffff:203.0.113.5"), ALLOW)


def test_empty_allowlist_refuses_everyone() -> None:
    with pytest.raises(IpNotAllowed):
        require_allowed(IPv4Address("127.0.0.1"), ())


def test_ip_rules_combine_proxies_and_allowlist() -> None:
    rules = IpRules.from_config("203.0.113.0/24", trusted_proxies="10.0.0.0/8")
    assert rules.check("10.0.0.1", "203.0.113.5") == IPv4Address("203.0.113.5")
    assert rules.check("203.0.113.6", None) == IPv4Address("203.0.113.6")
    with pytest.raises(IpNotAllowed):
        rules.check("10.0.0.1", "198.51.100.4")
    with pytest.raises(IpNotAllowed):
        rules.check("198.51.100.4", "203.0.113.5")
    with pytest.raises(IpNotAllowed):
        rules.check(None, None)
    assert IpNotAllowed().code == "ip_not_allowed"
