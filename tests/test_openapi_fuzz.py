"""Schemathesis against the OpenAPI schema of a real `frontdesk serve`: every operation, called with generated input
(valid and invalid) both with the API token and signed out, answers without a server error (5xx). Bounded so the
whole module takes a minute or two; the examples are derandomized, so a failure comes back on the next run.

The operations are read from the app's own schema (what /openapi.json serves) when the module is collected, so each
gets its own test; the calls go over HTTP to one server for the module. (schemathesis' `from_fixture` does not work
with this pytest; `as_strategy` with Hypothesis' `@given` does the same.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from frontdesk.app import create_app
from frontdesk.config import Settings
from tests.conftest import POSTGRES_URL
from tests.server import ADMIN_HEADERS, reset_postgres, running_server

EXAMPLES = 30  # per operation and caller
SCHEMA = schemathesis.openapi.from_dict(create_app(Settings(database_url="sqlite+aiosqlite:///unused.db")).openapi())
OPERATIONS = {f"{op.method.upper()} {op.path}": op for op in (result.ok() for result in SCHEMA.get_all_operations())}
CALLERS = {"api_token": ADMIN_HEADERS, "signed_out": {}}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One server for the module, with the demo store's knowledge so that searches and lists have rows to page."""
    if POSTGRES_URL:
        reset_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz')}/frontdesk.db"
    log = tmp_path_factory.mktemp("fuzz-log") / "serve.log"
    # Generated calls come fast from one address: the per-address limits are not what is tested here.
    env = {"FRONTDESK_RATE_IP_CONVERSATIONS_PER_MINUTE": "100000", "FRONTDESK_RATE_IP_MESSAGES_PER_MINUTE": "100000"}
    with running_server(url, log, env) as base:
        yield base, log


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("label", OPERATIONS)
def test_no_generated_call_makes_a_server_error(served: tuple[str, Path], label: str, caller: str) -> None:
    base, log = served
    operation = OPERATIONS[label]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=cases)
    def call(case: schemathesis.Case) -> None:
        try:
            case.call_and_validate(base_url=base, headers=CALLERS[caller], checks=[not_a_server_error], timeout=30)
        except AssertionError as failure:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            raise AssertionError(f"{failure}\n--- the server's log ends with:\n{tail}") from None

    call()
