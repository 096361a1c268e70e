"""Shared fixtures: API clients holding a key with given scopes, or no key at all.

Keep this file generic; area-specific fixtures belong in that area's own conftest.py.
"""

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def make_api_client(db):
    """Build an APIClient whose requests carry a fresh API key with ``scopes``."""
    from catalog.models import ApiKey

    def make(*scopes: str, name: str = "test") -> APIClient:
        api_key, raw_key = ApiKey.create_key(name=name, scopes=scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        client.api_key = api_key
        client.raw_key = raw_key
        return client

    return make


@pytest.fixture
def api_client(db):
    """A client with no API key."""
    return APIClient()


@pytest.fixture
def read_client(make_api_client):
    return make_api_client("read", name="reader")


@pytest.fixture
def write_client(make_api_client):
    """Read and write scopes: what an ingestion backend or a storefront server holds."""
    return make_api_client("read", "write", name="writer")


@pytest.fixture
def write_only_client(make_api_client):
    return make_api_client("write", name="write-only")
