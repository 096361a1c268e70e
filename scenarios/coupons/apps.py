from engine.apps import ScenarioAppConfig


class CouponsConfig(ScenarioAppConfig):
    """Declares the coupons scenario; slug, settings and events live on the Scenario class."""

    default = True
    name = "scenarios.coupons"
    label = "coupons"
    verbose_name = "Coupons scenario"
    scenario_class = "scenarios.coupons.scenario.CouponsScenario"
