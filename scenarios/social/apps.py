from engine.apps import ScenarioAppConfig


class SocialConfig(ScenarioAppConfig):
    """Declares the social scenario; slug, settings and events live on the Scenario class."""

    default = True
    name = "scenarios.social"
    label = "social"
    verbose_name = "Social scenario"
    scenario_class = "scenarios.social.scenario.SocialScenario"
