from engine.apps import ScenarioAppConfig


class AdsConfig(ScenarioAppConfig):
    """Declares the CTR-ranked ad server."""

    default = True
    name = "scenarios.ads"
    label = "ads"
    verbose_name = "Ads"
    scenario_class = "scenarios.ads.scenario.AdsScenario"
