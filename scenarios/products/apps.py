from engine.apps import ScenarioAppConfig


class ProductsConfig(ScenarioAppConfig):
    """Declares the products scenario; slug, title, version, settings and queues live on it."""

    default = True
    name = "scenarios.products"
    label = "products"
    verbose_name = "Products scenario"
    scenario_class = "scenarios.products.scenario.ProductsScenario"
