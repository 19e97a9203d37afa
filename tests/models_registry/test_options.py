import pytest

from models_registry.backends import GenerationOptions, OptionsError
from models_registry.backends.http import parse_retry_after


def test_options_validate_and_merge_over_defaults():
    defaults = GenerationOptions.from_mapping({"temperature": 0.2, "stop": "\ndef", "seed": 1})
    assert defaults.stop == ("\ndef",)
    merged = GenerationOptions(temperature=0.8, max_tokens=10).over(defaults)
    assert merged.to_dict() == {"temperature": 0.8, "max_tokens": 10, "stop": ["\ndef"], "seed": 1}
    assert [merged.for_sample(i).seed for i in range(3)] == [1, 2, 3]
    assert GenerationOptions().for_sample(4).seed is None


def test_every_bad_option_is_named():
    with pytest.raises(OptionsError) as caught:
        GenerationOptions.from_mapping({"temperature": "hot", "top_p": 2, "max_tokens": 1.5, "stop": [""], "x": 1})
    assert set(caught.value.errors) == {"temperature", "top_p", "max_tokens", "stop", "x"}
    with pytest.raises(OptionsError):
        GenerationOptions.from_mapping({"seed": True})


def test_retry_after_forms():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert 29 <= parse_retry_after({"retry-after": _http_date_in(30)}) <= 30
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def _http_date_in(seconds: int) -> str:
    import time
    from email.utils import formatdate

    return formatdate(time.time() + seconds, usegmt=True)
