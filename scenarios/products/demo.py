"""``manage.py seed_demo`` hook: queue a first products model, so the demo store answers with a
trained version rather than the popularity fallback (on the embedded default it trains inline
when the command's transaction commits; with a broker, a worker picks it up)."""

from engine.models import ModelVersion
from engine.versions import request_training


def seed(*, rng, stdout, scale):
    if ModelVersion.objects.filter(scenario="products").exists():
        stdout.write("products: a model version exists already; not training again")
        return
    version = request_training("products", triggered_by="seed_demo")
    stdout.write(f"products: training queued as version {version.pk}")
