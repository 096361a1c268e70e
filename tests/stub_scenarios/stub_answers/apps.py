from engine.apps import ScenarioAppConfig


class StubAnswersConfig(ScenarioAppConfig):
    default = True
    name = "tests.stub_scenarios.stub_answers"
    label = "stub_answers"
    scenario_class = "tests.stub_scenarios.stub_answers.scenario.StubAnswersScenario"
