"""The products training set: weights for most families, event times for seqknn."""

from datetime import timedelta

import numpy as np


def test_each_pair_keeps_its_latest_event_time_beside_its_summed_weight(store):
    from catalog.models import Interaction, User
    from scenarios.products.dataset import build_dataset, event_weights
    from scenarios.products.scenario import ProductsScenario

    scenario = ProductsScenario()
    settings = scenario.effective_settings({})
    user = User.objects.get(external_id="p1")
    first = Interaction.objects.filter(user=user).order_by("timestamp").first()
    later = first.timestamp + timedelta(hours=30)
    Interaction.objects.create(user=user, item=first.item, event_type="view", timestamp=later)
    data = build_dataset(settings, scenario.item_kinds)

    assert (data.times != 0).sum() == data.matrix.nnz  # the same pairs
    row, column = data.users.get("p1"), data.items.get(first.item.external_id)
    weights = event_weights(settings)
    assert np.isclose(data.matrix[row, column], weights[first.event_type] + weights["view"])
    expected = (later.timestamp() - data.time_from) / 60 + 1
    assert np.isclose(data.times[row, column], expected)
    assert data.times.data.min() >= 1.0  # every time positive, as seqknn needs
