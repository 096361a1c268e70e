"""The storefront demo's API key.

The page runs in the shopper's browser, so it holds its key in the clear, as any browser-side
client of the API does. The raw key is derived from ``SECRET_KEY`` (an HMAC), so every server
process and machine hands out the same key without storing it; only its hash is in the database,
as for every key. An operator turns it off in the admin (API keys: "storefront demo", untick
active) or turns the whole page off with ``STOREFRONT_DEMO=0``.
"""

import base64
import hashlib
import hmac

from django.conf import settings

from catalog.models import ApiKey, hash_api_key

NAME = "storefront demo"
SCOPES = ["read", "write"]  # it posts events, follows, redemptions and FAQ feedback


def demo_raw_key() -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), b"storefront demo key", hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def ensure_demo_key() -> tuple[ApiKey, str]:
    """The demo key's row (created on first use) and the raw key the page sends."""
    raw_key = demo_raw_key()
    api_key, _ = ApiKey.objects.get_or_create(
        key_hash=hash_api_key(raw_key),
        defaults={"name": NAME, "scopes": SCOPES, "prefix": raw_key[: ApiKey.PREFIX_LENGTH]},
    )
    return api_key, raw_key
