from engine.apps import ScenarioAppConfig


class ContentConfig(ScenarioAppConfig):
    """Declares the content scenario; slug, settings and events live on the Scenario class."""

    default = True
    name = "scenarios.content"
    label = "content"
    verbose_name = "Content scenario"
    scenario_class = "scenarios.content.scenario.ContentScenario"
