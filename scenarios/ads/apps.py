from engine.apps import ScenarioAppConfig


class AdsConfig(ScenarioAppConfig):
    """Declares the CTR-ranked ad server."""

    default = True
    name = "scenarios.ads"
    label = "ads"
    verbose_name = "Ads"
    scenario_class = "scenarios.ads.scenario.AdsScenario"

    def ready(self):
        super().ready()
        from scenarios.ads import signals  # noqa: F401  (inventory generation, purchases)
