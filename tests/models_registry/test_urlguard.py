import pytest

from models_registry.urlguard import UrlPolicy, UrlRefused, validate_base_url

OPEN = UrlPolicy(allow_loopback=True, allow_private=True)
CLOSED = UrlPolicy(allow_loopback=False, allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]:11434",
        "http://[::ffff:169.254.169.254]/",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://0.0.0.0:11434",
    ],
)
def test_link_local_and_metadata_are_always_refused(url):
    with pytest.raises(UrlRefused):
        validate_base_url(url, policy=OPEN)


@pytest.mark.parametrize(
    ("url", "setting"),
    [
        ("http://127.0.0.1:11434", "MODEL_ALLOW_LOOPBACK_URLS"),
        ("http://localhost:11434", "MODEL_ALLOW_LOOPBACK_URLS"),
        ("http://[::1]:8000/v1", "MODEL_ALLOW_LOOPBACK_URLS"),
        ("http://10.1.2.3:8000/v1", "MODEL_ALLOW_PRIVATE_URLS"),
        ("http://192.168.1.20:11434", "MODEL_ALLOW_PRIVATE_URLS"),
        ("http://172.16.0.5/", "MODEL_ALLOW_PRIVATE_URLS"),
        ("http://100.64.0.1/", "MODEL_ALLOW_PRIVATE_URLS"),
        ("http://[fd12:3456::1]/", "MODEL_ALLOW_PRIVATE_URLS"),
    ],
)
def test_loopback_and_private_only_when_allowed(url, setting):
    with pytest.raises(UrlRefused, match=setting):
        validate_base_url(url, policy=CLOSED)
    assert validate_base_url(url + "/", policy=OPEN) == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("http://user:pw@127.0.0.1/", "credentials"),
        ("http://127.0.0.1/?key=1", "query"),
        ("http://", "needs a host"),
    ],
)
def test_malformed_urls(url, message):
    with pytest.raises(UrlRefused, match=message):
        validate_base_url(url, policy=OPEN)


def test_a_public_address_passes_the_closed_policy_without_resolving_names():
    assert validate_base_url("https://8.8.8.8/v1", policy=CLOSED) == "https://8.8.8.8/v1"
