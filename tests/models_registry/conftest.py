import pytest

from .servers import FakeOllama, FakeOpenAI
from .servers_hosted import FakeAnthropic, FakeGemini

SECRET = "sk-test-Zq8v4SECRETvalue93xK"


@pytest.fixture(autouse=True)
def _fast_model_settings(settings):
    """Short timeouts and backoff so failure paths take milliseconds; loopback allowed for the local servers."""
    settings.MODEL_ALLOW_LOOPBACK_URLS = True
    settings.MODEL_ALLOW_PRIVATE_URLS = False
    settings.MODEL_CONNECT_TIMEOUT = 2.0
    settings.MODEL_READ_TIMEOUT = 0.5
    settings.MODEL_TOTAL_TIMEOUT = 10.0
    settings.MODEL_MAX_RETRIES = 2
    settings.MODEL_RETRY_BACKOFF = 0.01
    settings.MODEL_RETRY_BACKOFF_MAX = 0.05
    settings.MODEL_RETRY_AFTER_MAX = 5.0
    settings.MODEL_TEST_TIMEOUT = 5.0


@pytest.fixture
def ollama():
    server = FakeOllama()
    yield server
    server.close()


@pytest.fixture
def openai_server():
    server = FakeOpenAI(api_key=SECRET)
    yield server
    server.close()


@pytest.fixture
def anthropic_server():
    server = FakeAnthropic(api_key=SECRET)
    yield server
    server.close()


@pytest.fixture
def gemini_server():
    server = FakeGemini(api_key=SECRET)
    yield server
    server.close()
