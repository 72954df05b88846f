"""The store wired to the fake helpdesks (`tests/handoff/shop.py`), as fixtures."""

from tests.handoff.shop import fake_gorgias, fake_zendesk, shop  # noqa: F401
