from engine.apps import ScenarioAppConfig


class StubAdsConfig(ScenarioAppConfig):
    default = True
    name = "tests.stub_scenarios.stub_ads"
    label = "stub_ads"
    scenario_class = "tests.stub_scenarios.stub_ads.scenario.StubAdsScenario"
