"""Secret keys (signing, encryption, rotation) and signed download links."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from loadbay.domain.errors import LinkRejected
from loadbay.security.keys import KeyRing, UnknownKey, load_or_create_secret
from loadbay.security.links import LinkSigner

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)

# --- KeyRing ------------------------------------------------------------------------


def test_sign_and_verify() -> None:
    ring = KeyRing(["secret-one"])
    signature = ring.sign("hello")
    assert ring.verify("hello", signature)
    assert not ring.verify("hello!", signature)
    assert not ring.verify("hello", "")
    assert not ring.verify("hello", "not a signature")
    assert not KeyRing(["secret-two"]).verify("hello", signature)


def test_signatures_are_url_safe_and_deterministic() -> None:
    ring = KeyRing(["secret-one"])
    signature = ring.sign("download\n01ABC\nfile.csv\n123")
    assert signature == ring.sign("download\n01ABC\nfile.csv\n123")
    assert set(signature) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "=" not in signature


def test_encrypt_and_decrypt() -> None:
    ring = KeyRing(["secret-one"])
    token = ring.encrypt(b'{"storage": "file", "key": "a/b.csv"}')
    assert b"a/b.csv" not in token.encode()
    assert ring.decrypt(token) == b'{"storage": "file", "key": "a/b.csv"}'
    assert ring.encrypt(b"same") != ring.encrypt(b"same")  # fresh randomness each time


def test_decrypt_with_another_key_fails() -> None:
    token = KeyRing(["secret-one"]).encrypt(b"ref")
    with pytest.raises(UnknownKey):
        KeyRing(["secret-two"]).decrypt(token)


def test_decrypt_of_garbage_fails_with_unknown_key() -> None:
    ring = KeyRing(["secret-one"])
    token = ring.encrypt(b"ref")
    tampered = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    for bad in (tampered, "not a token", ""):
        with pytest.raises(UnknownKey):
            ring.decrypt(bad)


def test_rotation_old_data_opens_with_new_and_old_keys() -> None:
    old = KeyRing(["old"])
    token = old.encrypt(b"stored before rotation")
    rotated = KeyRing(["new", "old"])
    assert rotated.decrypt(token) == b"stored before rotation"
    with pytest.raises(UnknownKey):
        KeyRing(["new"]).decrypt(token)


def test_rotation_new_data_uses_the_first_key() -> None:
    rotated = KeyRing(["new", "old"])
    token = rotated.encrypt(b"fresh")
    assert KeyRing(["new"]).decrypt(token) == b"fresh"
    with pytest.raises(UnknownKey):
        KeyRing(["old"]).decrypt(token)


def test_rotation_of_signatures() -> None:
    old_signature = KeyRing(["old"]).sign("message")
    rotated = KeyRing(["new", "old"])
    assert rotated.verify("message", old_signature)
    assert not KeyRing(["new"]).verify("message", old_signature)
    assert rotated.sign("message") == KeyRing(["new"]).sign("message")


@pytest.mark.parametrize("secrets", [[], [""], ["ok", ""]])
def test_empty_secrets_are_refused(secrets: list[str]) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        KeyRing(secrets)


def test_load_or_create_secret(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret_key"
    secret = load_or_create_secret(path)
    assert len(secret) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret(path) == secret
    other = tmp_path / "other" / "secret_key"
    assert load_or_create_secret(other) != secret


# --- LinkSigner ---------------------------------------------------------------------

Parts = tuple[str, str, str, str]


def link_parts(url: str) -> Parts:
    """(job id, file name, expires, signature) as the download route receives them."""
    parts = urlsplit(url)
    _, downloads, job_id, file_name = parts.path.rsplit("/", 3)
    assert downloads == "downloads"
    query = parse_qs(parts.query, strict_parsing=True)
    return unquote(job_id), unquote(file_name), query["expires"][0], query["signature"][0]


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(KeyRing(["link-secret"]), "http://127.0.0.1:8000/")


def test_a_signed_url_verifies(signer: LinkSigner) -> None:
    link = signer.sign(
        "01JD3Z8X6V0000000000000000", "user_01JD3Z8X6V.csv", NOW + timedelta(hours=1)
    )
    assert link.url.startswith("http://127.0.0.1:8000/downloads/01JD3Z8X6V0000000000000000/")
    assert link.expires_at == NOW + timedelta(hours=1)
    job_id, file_name, expires, signature = link_parts(link.url)
    assert (job_id, file_name) == ("01JD3Z8X6V0000000000000000", "user_01JD3Z8X6V.csv")
    assert expires == str(int((NOW + timedelta(hours=1)).timestamp()))
    signer.check(job_id, file_name, expires, signature, NOW)
    signer.check(job_id, file_name, expires, signature, NOW + timedelta(minutes=59))


def test_a_file_name_that_needs_quoting_survives(signer: LinkSigner) -> None:
    link = signer.sign("J1", "résumé file #1?.csv", NOW + timedelta(hours=1))
    assert " " not in link.url
    parts = link_parts(link.url)
    assert parts[1] == "résumé file #1?.csv"
    signer.check(*parts, NOW)


def test_a_link_signed_with_the_old_key_verifies_after_rotation() -> None:
    old = LinkSigner(KeyRing(["old"]), "http://h")
    link = old.sign("J1", "f.csv", NOW + timedelta(hours=1))
    LinkSigner(KeyRing(["new", "old"]), "http://h").check(*link_parts(link.url), NOW)
    with pytest.raises(LinkRejected):
        LinkSigner(KeyRing(["new"]), "http://h").check(*link_parts(link.url), NOW)


def _flip(text: str, index: int) -> str:
    char = text[index]
    replacement = "B" if char == "A" else "A"
    return text[:index] + replacement + text[index + 1 :]


def _other_char_same_bits(signature: str) -> str:
    """The last character of a 43-character base64 digest carries 2 unused bits:
    a different character there is an altered URL all the same."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(signature[-1])
    return signature[:-1] + alphabet[index ^ 1]


ALTERATIONS: list[tuple[str, Callable[[Parts], Parts]]] = [
    ("job id", lambda p: (p[0] + "X", p[1], p[2], p[3])),
    ("other job id", lambda p: ("01JD3Z8X6V0000000000000001", p[1], p[2], p[3])),
    ("file name", lambda p: (p[0], "organisation_J1.csv", p[2], p[3])),
    ("file name case", lambda p: (p[0], p[1].upper(), p[2], p[3])),
    ("expires later", lambda p: (p[0], p[1], str(int(p[2]) + 86_400), p[3])),
    ("expires earlier", lambda p: (p[0], p[1], str(int(p[2]) - 1), p[3])),
    ("signature first char", lambda p: (p[0], p[1], p[2], _flip(p[3], 0))),
    ("signature middle char", lambda p: (p[0], p[1], p[2], _flip(p[3], 20))),
    ("signature truncated", lambda p: (p[0], p[1], p[2], p[3][:-1])),
    ("signature empty", lambda p: (p[0], p[1], p[2], "")),
    ("signature garbage", lambda p: (p[0], p[1], p[2], "!!!not base64!!!")),
    ("signature last char", lambda p: (p[0], p[1], p[2], _other_char_same_bits(p[3]))),
    ("signature with padding", lambda p: (p[0], p[1], p[2], p[3] + "==")),
    ("expires with a leading zero", lambda p: (p[0], p[1], "0" + p[2], p[3])),
]


@pytest.mark.parametrize("alter", [pytest.param(alter, id=name) for name, alter in ALTERATIONS])
def test_an_altered_link_is_rejected_as_bad_signature(
    signer: LinkSigner, alter: Callable[[Parts], Parts]
) -> None:
    link = signer.sign("01JD3Z8X6V0000000000000000", "user_J1.csv", NOW + timedelta(hours=1))
    parts = link_parts(link.url)
    altered = alter(parts)
    assert altered != parts
    with pytest.raises(LinkRejected) as caught:
        signer.check(*altered, NOW)
    assert caught.value.code == "bad_signature"
    assert caught.value.status == 403


@pytest.mark.parametrize(
    "expires",
    ["", "abc", "-1", "1.5", "1e10", " 1", "\uff10\uff11", "\u00b2"],
    ids=[
        "empty",
        "letters",
        "negative",
        "decimal",
        "exponent",
        "space",
        "fullwidth",
        "superscript",
    ],
)
def test_a_non_numeric_expires_is_a_bad_signature(signer: LinkSigner, expires: str) -> None:
    link = signer.sign("J1", "f.csv", NOW + timedelta(hours=1))
    job_id, file_name, _, signature = link_parts(link.url)
    with pytest.raises(LinkRejected) as caught:
        signer.check(job_id, file_name, expires, signature, NOW)
    assert caught.value.code == "bad_signature"


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=1), timedelta(days=30)])
def test_an_expired_link_is_rejected_as_link_expired(signer: LinkSigner, after: timedelta) -> None:
    expires_at = NOW + timedelta(hours=1)
    link = signer.sign("J1", "f.csv", expires_at)
    with pytest.raises(LinkRejected) as caught:
        signer.check(*link_parts(link.url), expires_at + after)
    assert caught.value.code == "link_expired"
    assert caught.value.status == 403


def test_an_altered_and_expired_link_is_a_bad_signature(signer: LinkSigner) -> None:
    link = signer.sign("J1", "f.csv", NOW - timedelta(hours=1))
    job_id, file_name, expires, signature = link_parts(link.url)
    with pytest.raises(LinkRejected) as caught:
        signer.check(job_id + "2", file_name, expires, signature, NOW)
    assert caught.value.code == "bad_signature"


def test_a_link_from_another_secret_is_rejected(signer: LinkSigner) -> None:
    other = LinkSigner(KeyRing(["someone-else"]), "http://127.0.0.1:8000")
    link = other.sign("J1", "f.csv", NOW + timedelta(hours=1))
    with pytest.raises(LinkRejected) as caught:
        signer.check(*link_parts(link.url), NOW)
    assert caught.value.code == "bad_signature"


def test_expiry_is_whole_seconds(signer: LinkSigner) -> None:
    link = signer.sign("J1", "f.csv", NOW + timedelta(seconds=10, microseconds=999_999))
    assert link.expires_at == NOW + timedelta(seconds=10)
    assert link.expires_at.tzinfo is not None
