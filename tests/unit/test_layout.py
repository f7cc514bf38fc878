"""The layer package's layout (issue 12): folders by role, imports that run one way, no circle.

Every `import` and `from ... import` of the package is read from the source (imports inside
functions included), so a lazy import cannot hide a dependency the wrong way.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "common" / "webhook_resend"
ROOT_MODULES_MAX = 8
# Lower ranks are imported by higher ones, never the other way round.
RANK = {"root": 0, "models": 1, "aws": 2, "resends": 3, "catalog": 3, "delivery": 3, "api": 4}
# Between the domain folders: a content item list shares the resends' filters and selection; a job
# that ends where it is selected or controlled (rejected, cancelled) is announced through
# delivery.events, whose consumer is the delivery side's; a resumed job's held pairs go back
# through delivery.parking.
DOMAIN_EDGES = {("catalog", "resends"), ("resends", "delivery")}


def _module_name(path: Path) -> str:
    parts = ["webhook_resend", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules `name` imports, anywhere in its source."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` imports a module; `from mod import name` imports the module.
            targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for target in targets:
            if target in known and target != name:
                found.add(target)
    # a package's __init__ is imported with any of its modules; it is not an edge of its own
    return {t for t in found if not (t != "webhook_resend" and name.startswith(t + "."))} - {"webhook_resend"}


@cache
def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _folder(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else "root"


def test_layout_root_keeps_at_most_eight_modules() -> None:
    root = sorted(p.name for p in PACKAGE.glob("*.py"))

    assert len(root) <= ROOT_MODULES_MAX, root


def test_layout_has_the_role_folders_each_with_a_docstring() -> None:
    folders = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))

    assert set(RANK) - {"root"} <= set(folders)
    for folder in folders:
        docstring = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert docstring, f"{folder}/__init__.py has no docstring"
        assert "import" in docstring.lower(), f"{folder}/__init__.py does not say what it may import"


def test_layout_every_folder_is_ranked() -> None:
    assert {_folder(name) for name in _modules()} <= set(RANK)


@pytest.mark.parametrize("name", sorted(_modules()))
def test_layout_imports_run_one_way(name: str) -> None:
    mine = _folder(name)
    wrong = []
    for target in sorted(_graph()[name]):
        theirs = _folder(target)
        if theirs == mine:
            continue
        if RANK[theirs] > RANK[mine] or (RANK[theirs] == RANK[mine] and (mine, theirs) not in DOMAIN_EDGES):
            wrong.append(target)
    assert wrong == [], f"{name} ({mine}) imports upward or sideways: {wrong}"


def test_layout_has_no_import_circle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    circles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])

    assert circles == []


def test_layout_graph_sees_imports_inside_functions() -> None:
    # resends.schedules parses cron expressions only when a schedule is created (cold starts)
    assert "webhook_resend.resends.schedule_expressions" in _graph()["webhook_resend.resends.schedules"]


# -- the console (issue 16): its page, styles and script are files of its function ---------------------
CONSOLE = PACKAGE.parents[2] / "functions" / "console"


def test_layout_console_assets_are_files_beside_the_console_function() -> None:
    static = sorted(p.name for p in (CONSOLE / "static").iterdir())

    assert {"index.html", "console.css", "console.js"} <= set(static), static
    assert [p.name for p in CONSOLE.glob("*.py")] == ["console.py"]


@pytest.mark.parametrize(
    "path", sorted([*PACKAGE.rglob("*.py"), *(PACKAGE.parents[2] / "functions").rglob("*.py")])
)
def test_layout_no_python_module_carries_the_console_as_a_string(path: Path) -> None:
    text = path.read_text().lower()

    assert "<!doctype html" not in text, path
    assert "<script" not in text, path
