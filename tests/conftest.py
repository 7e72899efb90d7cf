import pytest


@pytest.fixture(autouse=True)
def _english(settings):
    # Error messages are asserted in English; pages are tested in both languages where it matters.
    settings.LANGUAGE_CODE = "en"
