"""local/ shows its parts: one package per stand-in, imports only downwards, and no import cycle anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2] / "tasks" / "bamboohr_moodle_sync"
LOCAL = "bamboohr_moodle_sync.local"
# Which stand-ins each may import (besides itself, the shared server and the package's core modules).
ALLOWED = {
    "bamboohr": set(),
    "moodle": set(),
    "aws": set(),
    "pipeline": {"bamboohr", "moodle", "aws"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every bamboohr_moodle_sync module the file imports (``from x import y`` counts y when it is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else f"{module_name(path).rsplit('.', node.level)[0]}.{node.module}"
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("bamboohr_moodle_sync")}


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in PACKAGE_ROOT.rglob("*.py")}
    return {name: {i for i in imports_of(path) if i in modules and i != name} for name, path in modules.items()}


def test_local_has_one_package_per_stand_in() -> None:
    packages = {p.name for p in (PACKAGE_ROOT / "local").iterdir() if (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)


def test_stand_ins_import_only_what_they_stand_on() -> None:
    wrong = []
    for module, imported in graph().items():
        if not module.startswith(f"{LOCAL}."):
            continue
        part = module.split(".")[2]
        for target in imported:
            if target.startswith(f"{LOCAL}.") and target != f"{LOCAL}.server":
                other = target.split(".")[2]
                if other != part and other not in ALLOWED.get(part, set()):
                    wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_the_core_package_never_imports_local() -> None:
    leaks = [
        f"{m} imports {t}" for m, ts in graph().items() if not m.startswith(LOCAL) for t in ts if t.startswith(LOCAL)
    ]
    assert leaks == []


def test_no_import_cycles() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*path, node, target]
            if target not in state and (cycle := visit(target, [*path, node])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            assert visit(start, []) is None
