from engine.apps import ScenarioAppConfig


class StubOffersConfig(ScenarioAppConfig):
    default = True
    name = "tests.stub_scenarios.stub_offers"
    label = "stub_offers"
    scenario_class = "tests.stub_scenarios.stub_offers.scenario.StubOffersScenario"
