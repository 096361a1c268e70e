"""Property-based run of schemathesis over the whole /api/schema/: no request may get a 500.

The schema is loaded from the running WSGI app at test time, so endpoints that other apps add
later are fuzzed too. Both valid and invalid (negative) requests are generated, each carrying a
read+write API key. (schemathesis' own pytest plugin does not run under pytest 9, so the
operations are driven with Hypothesis directly.)
"""

import contextlib

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from catalog.models import Item, User

EXAMPLES_PER_OPERATION = 20


@pytest.fixture
def api_schema(db, settings):
    # Fuzzing sends hundreds of requests with one key; throttling would only answer 429s.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {}}
    # The WSGI handler closes "old" connections around each request, which would end the test's
    # transaction; Django's own test client disconnects these receivers the same way.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def server_errors(operation, mode: GenerationMode, headers: dict) -> list[str]:
    """Send generated requests for one operation; return a description of each 5xx."""
    failures = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def send(case):
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{mode.value} {case.method} {case.formatted_path} -> {response.status_code}\n"
                f"  {case.as_curl_command(headers=headers)}\n  {response.text[:300]}"
            )

    # Unsatisfiable: nothing in this operation can be made invalid (no parameters, no body).
    with contextlib.suppress(Unsatisfiable):
        send()
    return failures


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(api_schema, write_client):
    # A few rows so that reads and upserts also meet existing objects.
    Item.objects.create(external_id="sku-1", category="electronics/phones", price="9.99")
    User.objects.create(external_id="u-1", segments=["vip"])
    headers = {"Authorization": f"Api-Key {write_client.raw_key}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10  # the catalog alone documents 12

    failures = [
        failure
        for operation in operations
        for mode in GenerationMode
        for failure in server_errors(operation, mode, headers)
    ]

    assert not failures, "\n".join(failures)
