"""The engine's modules stand in floors with no import circle: the contract and the tables at the
bottom, the serving parts above them, serving and the task lifecycle above those, and the API,
admin, URLs and receivers on top. A module imports only its own floor or lower ones."""

import ast
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "platform" / "engine"
FLOORS = [
    # the contract, the tables and helpers that know no other engine module
    {
        "scenario",
        "schema",
        "queues",
        "plugins",
        "registry",
        "models",
        "experiments",
        "plots",
        "schedules",
        "history",
        "lists",
        "memo",
        "tracking",
        "snapshot",
        "search",
    },
    # the parts of serving every scenario shares
    {"ids", "routing", "impressions", "attribution", "freshness", "pipeline", "kinds", "forms"},
    # serving, and the version lifecycle with its tasks
    {"serving", "versions", "tasks"},
    # what Django wires up: endpoints, admin, URLs, receivers, the app
    {"api", "admin", "urls", "signals", "apps", "dashboard"},
]
FLOOR_OF = {name: level for level, names in enumerate(FLOORS) for name in names}


def _engine_imports(path: Path) -> set[str]:
    """Engine modules ``path`` imports anywhere (functions included), except under
    ``if TYPE_CHECKING:``, which never runs."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
        for child in block.body
        for node in ast.walk(child)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "engine":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("engine.")}
    return found - {path.stem}


GRAPH = {
    path.stem: _engine_imports(path) for path in ENGINE.glob("*.py") if path.stem != "__init__"
}


def test_every_engine_module_has_a_floor():
    assert set(GRAPH) == set(FLOOR_OF), "place new engine modules in FLOORS"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_a_module_imports_only_its_floor_or_below(module):
    above = {name for name in GRAPH[module] if FLOOR_OF[name] > FLOOR_OF[module]}
    assert not above, f"engine.{module} (floor {FLOOR_OF[module]}) imports {sorted(above)}"


def test_no_import_circle():
    done, stack = set(), []

    def visit(module):
        if module in stack:
            pytest.fail("import circle: " + " -> ".join([*stack[stack.index(module) :], module]))
        if module in done:
            return
        stack.append(module)
        for name in sorted(GRAPH[module]):
            visit(name)
        stack.pop()
        done.add(module)

    for module in sorted(GRAPH):
        visit(module)
