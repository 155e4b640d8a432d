"""runner's layout, read from its imports with ast: at module level and inside functions.

The composition root points one way: the CLI starts the demo and serves the web app,
the demo runs the web app, and the web app imports neither. No module of runner
imports itself back through others.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[2] / "runner"
# all the CLI needs of the web app: the app to serve, the users and API keys to manage
CLI_USES_OF_WEB = frozenset({"runner.web.app", "runner.web.users", "runner.web.api_keys"})


def _module_name(path: Path) -> str:
    parts = path.relative_to(RUNNER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in RUNNER.rglob("*.py")}


def _imported(module: str, path: Path) -> Iterator[str]:
    """Every module of runner that ``module`` imports, wherever the import stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from package import module`` names a module; otherwise the base is imported
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module and name != "runner":
                yield name


GRAPH = {module: set(_imported(module, path)) for module, path in MODULES.items()}


def _cycles() -> list[list[str]]:
    """One cycle through each module that lies on one (depth-first search)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            found.append([*trail[trail.index(module) :], module])
            return
        if module in done:
            return
        for target in sorted(GRAPH[module]):
            visit(target, [*trail, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])
    return found


def test_the_graph_is_read() -> None:
    assert "runner.web.app" in GRAPH["runner.web.api"] | GRAPH["runner.cli.dialer"]
    assert "runner.web.desk" in GRAPH["runner.web.api"]


def test_no_module_of_runner_imports_itself_back() -> None:
    cycles = [" -> ".join(cycle) for cycle in _cycles()]
    assert not cycles, "import cycles in runner:\n" + "\n".join(cycles)


def test_the_cli_uses_only_the_web_apps_entry_points() -> None:
    reached = {
        (module, target)
        for module, targets in GRAPH.items()
        if module.startswith("runner.cli")
        for target in targets
        if target.startswith("runner.web") and target not in CLI_USES_OF_WEB
    }
    assert not reached, f"the CLI reaches into the web app: {sorted(reached)}"


@pytest.mark.parametrize(
    ("package", "never"),
    [
        ("runner.web", ("runner.cli", "runner.demo")),
        ("runner.reports", ("runner.cli", "runner.demo", "runner.web")),
        ("runner.settings", ("runner.cli", "runner.demo", "runner.web", "runner.reports")),
        ("runner.embedded", ("runner.cli", "runner.demo", "runner.web", "runner.reports")),
    ],
)
def test_inner_parts_never_import_the_outer_ones(package: str, never: tuple[str, ...]) -> None:
    reached = {
        (module, target)
        for module, targets in GRAPH.items()
        if module == package or module.startswith(package + ".")
        for target in targets
        if target.startswith(never)
    }
    assert not reached, f"{package} imports what composes it: {sorted(reached)}"


def test_the_demo_imports_nothing_of_the_cli() -> None:
    """The CLI starts the demo; what both need (the event loop, a progress bar) lives in
    runner itself, so the two packages do not import each other."""
    back = sorted(
        (module, used)
        for module, uses in GRAPH.items()
        if module.startswith("runner.demo")
        for used in uses
        if used.startswith("runner.cli")
    )
    assert back == []
