"""``AesGcmSecretBox``: the core's SecretBox, AES-256-GCM from ``cryptography``.

Keys are derived from SECRET_KEY with HKDF-SHA256 for this one purpose, so rotating SECRET_KEY
(keeping the old one in PREVIOUS_SECRET_KEYS) keeps sealed values readable until they expire.
A sealed value is ``version (1) | key id (4) | nonce (12) | ciphertext and tag``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
_INFO = b"digital-wallet secret box v1"


def _derive(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:4]


class AesGcmSecretBox:
    def __init__(self, secret_key: str, previous_keys: Sequence[str] = ()) -> None:
        keys = [_derive(k) for k in (secret_key, *previous_keys)]
        self._current = keys[0]
        self._by_id = {_key_id(k): AESGCM(k) for k in keys}
        self._current_id = _key_id(self._current)

    def seal(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        header = VERSION + self._current_id
        return header + nonce + self._by_id[self._current_id].encrypt(nonce, plaintext, header)

    def open(self, sealed: bytes) -> bytes:
        header, nonce, body = sealed[:5], sealed[5:17], sealed[17:]
        if header[:1] != VERSION or len(nonce) != 12:
            raise ValueError("not a sealed value")
        cipher = self._by_id.get(header[1:5])
        if cipher is None:
            raise ValueError("sealed with a key this service no longer knows")
        try:
            return cipher.decrypt(nonce, body, header)
        except InvalidTag as exc:
            raise ValueError("the sealed value was altered") from exc
