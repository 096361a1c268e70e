from engine.apps import ScenarioAppConfig


class FaqConfig(ScenarioAppConfig):
    """Declares the customer-service FAQ scenario; retrains when entries change."""

    default = True
    name = "scenarios.faq"
    label = "faq"
    verbose_name = "Customer-service FAQ"
    scenario_class = "scenarios.faq.scenario.FaqScenario"

    def ready(self):
        super().ready()
        from scenarios.faq import signals  # noqa: F401  (retraining on entry changes)
