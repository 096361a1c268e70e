from engine.apps import ScenarioAppConfig


class StubPeopleConfig(ScenarioAppConfig):
    default = True
    name = "tests.stub_scenarios.stub_people"
    label = "stub_people"
    scenario_class = "tests.stub_scenarios.stub_people.scenario.StubPeopleScenario"
