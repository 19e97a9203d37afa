import pytest

from models_registry.crypto import KeyDecryptionError, decrypt_secret, encrypt_secret


def test_round_trip_and_ciphertext_hides_the_key(settings):
    settings.MODEL_KEY_ENCRYPTION_KEYS = ["first-secret"]
    token = encrypt_secret("sk-live-abc123")
    assert "sk-live-abc123" not in token
    assert decrypt_secret(token) == "sk-live-abc123"
    assert encrypt_secret("sk-live-abc123") != token  # random IV: equal keys do not look equal


def test_rotation_keeps_old_keys_readable_and_a_lost_key_is_a_clear_error(settings):
    settings.MODEL_KEY_ENCRYPTION_KEYS = ["old-secret"]
    token = encrypt_secret("sk-1")
    settings.MODEL_KEY_ENCRYPTION_KEYS = ["new-secret", "old-secret"]
    assert decrypt_secret(token) == "sk-1"
    settings.MODEL_KEY_ENCRYPTION_KEYS = ["new-secret"]
    with pytest.raises(KeyDecryptionError, match="enter the key again"):
        decrypt_secret(token)


def test_default_key_is_derived_from_secret_key(settings):
    settings.MODEL_KEY_ENCRYPTION_KEYS = []
    token = encrypt_secret("sk-2")
    settings.SECRET_KEY = "another-secret-key-for-this-test-only-0123456789"
    with pytest.raises(KeyDecryptionError):
        decrypt_secret(token)
