"""Catalog fixtures: a few items to send events about."""

import pytest

from catalog.models import Item


@pytest.fixture
def items(db):
    """Three products: sku-1 and sku-2 in electronics/phones, sku-3 in books."""
    return {
        external_id: Item.objects.create(external_id=external_id, category=category, price=price)
        for external_id, category, price in [
            ("sku-1", "electronics/phones", "199.00"),
            ("sku-2", "electronics/phones", "399.00"),
            ("sku-3", "books", "12.50"),
        ]
    }
