"""The app with its helpdesk URL templates pointed at the fake Zendesk and Gorgias."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from frontdesk.config import Settings
from tests.fakes.gorgias import GorgiasFake
from tests.fakes.zendesk import ZendeskFake


@pytest.fixture
def fake_zendesk() -> Iterator[ZendeskFake]:
    with ZendeskFake() as fake:
        yield fake


@pytest.fixture
def fake_gorgias() -> Iterator[GorgiasFake]:
    with GorgiasFake() as fake:
        yield fake


@pytest.fixture
def settings(settings: Settings, fake_zendesk: ZendeskFake, fake_gorgias: GorgiasFake) -> Settings:
    return settings.model_copy(
        update={
            "zendesk_url_template": fake_zendesk.url_template,
            "gorgias_url_template": fake_gorgias.url_template,
            "public_url": "https://frontdesk.example",
        }
    )
