"""Encryption of model API keys at rest (Fernet: AES-128-CBC + HMAC-SHA256, authenticated).

Keys come from ``MODEL_KEY_ENCRYPTION_KEYS`` (any strings; each is stretched with HKDF into a Fernet key). The first
one encrypts; all of them decrypt, so a key can be rotated by prepending a new one. With the setting empty, one key is
derived from SECRET_KEY: changing SECRET_KEY then makes stored model keys unreadable (they must be entered again).
"""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_SALT = b"codequalbench/model-api-keys"
_INFO = b"fernet-v1"


class KeyDecryptionError(Exception):
    """A stored key cannot be decrypted with the configured keys (they changed since it was stored)."""


def _fernet_key(material: str) -> bytes:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(material.encode())
    return base64.urlsafe_b64encode(derived)


@lru_cache(maxsize=4)
def _cipher(materials: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(m)) for m in materials])


def _current() -> MultiFernet:
    materials = tuple(k for k in settings.MODEL_KEY_ENCRYPTION_KEYS if k) or (settings.SECRET_KEY,)
    return _cipher(materials)


def encrypt_secret(plain: str) -> str:
    return _current().encrypt(plain.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise KeyDecryptionError(
            "The stored API key cannot be decrypted with the configured keys "
            "(MODEL_KEY_ENCRYPTION_KEYS or SECRET_KEY changed); enter the key again."
        ) from exc
