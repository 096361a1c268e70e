"""The demo seeds campaigns and a log with clicks, and queues a first training."""

import io

import numpy as np

from engine.models import ModelVersion
from scenarios.ads import demo
from scenarios.ads.models import Click, Impression


def test_the_demo_seeds_a_log_and_queues_a_training(store):
    demo.seed(rng=np.random.default_rng(0), stdout=io.StringIO(), scale=0.25)
    assert Impression.objects.count() == 1000
    assert 0 < Click.objects.count() < 1000
    assert ModelVersion.objects.filter(scenario="ads").exists()
