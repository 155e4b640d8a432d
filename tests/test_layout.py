"""The import rule of DESIGN.md's layout, read from every package's imports.

Dependencies point one way, ``runner -> dialer -> campaigns -> scoring -> store``: no stage
imports a later one. The product stages never import ``simulation``, ``runner`` or
``scripts``; ``simulation`` may use the product but never ``runner`` or ``scripts``; no
package imports ``scripts`` (its leaves may share helpers among themselves). Every import
counts, at module level or inside a function, ``TYPE_CHECKING`` blocks included.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("store", "scoring", "campaigns", "dialer", "runner")
PRODUCT = STAGES[:-1]
# what each package may import besides itself
ALLOWED: dict[str, frozenset[str]] = {
    **{stage: frozenset(STAGES[:i]) for i, stage in enumerate(STAGES)},
    "runner": frozenset(STAGES[:-1]) | {"simulation"},
    "simulation": frozenset(PRODUCT),
    "scripts": frozenset(STAGES) | {"simulation"},
}
# edges that break the rule today, each with the reason it is still there: none
KNOWN_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())


def packages() -> list[str]:
    """Every package of the project: those the type checker checks."""
    listed: list[str] = CONFIG["tool"]["mypy"]["packages"]
    return listed


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, module: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``module``, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                yield node.lineno, ".".join([*base, *filter(None, [node.module])])
            elif node.module is not None:
                yield node.lineno, node.module


def edges() -> Iterator[tuple[str, str, str]]:
    """(importing package, imported package, where) for imports across our packages."""
    ours = set(packages())
    for package in sorted(ours):
        for path in sorted((ROOT / package).rglob("*.py")):
            for line, name in imported(path, module_name(path)):
                target = name.split(".")[0]
                if target in ours and target != package:
                    where = f"{path.relative_to(ROOT)}:{line} imports {name}"
                    yield package, target, where


def test_every_package_has_a_place_in_the_rule() -> None:
    assert set(packages()) == set(ALLOWED)


def test_the_wheel_ships_the_product_and_no_scripts() -> None:
    shipped = CONFIG["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert set(shipped) == set(packages()) - {"scripts"}


def test_imports_point_one_way() -> None:
    broken = [
        where
        for package, target, where in edges()
        if target not in ALLOWED[package] and (package, target) not in KNOWN_EXCEPTIONS
    ]
    assert broken == []


def test_known_exceptions_still_exist() -> None:
    """An exception that no import needs any more is taken off the list."""
    found = {(package, target) for package, target, _ in edges()}
    assert found >= KNOWN_EXCEPTIONS


@pytest.mark.parametrize("package", PRODUCT)
def test_the_product_never_reaches_the_simulated_world(package: str) -> None:
    forbidden = {"simulation", "runner", "scripts"}
    assert [where for p, target, where in edges() if p == package and target in forbidden] == []


def test_no_package_imports_scripts() -> None:
    assert [where for p, target, where in edges() if target == "scripts"] == []


def test_imports_are_read_inside_functions_and_relative_ones_resolved(tmp_path: Path) -> None:
    source = tmp_path / "worker.py"
    source.write_text(
        "import store.db\n"
        "from . import pacing\n"
        "from ..campaigns import policy\n"
        "def later() -> None:\n"
        "    from simulation.agents import ensure_agents\n"
    )
    names = [name for _, name in imported(source, "dialer.jobs.worker")]
    assert names == ["store.db", "dialer.jobs", "dialer.campaigns", "simulation.agents"]
