"""Imports run one way, down the layers: every module imports, and no module reaches itself again
through its imports (lazy imports inside functions count; ``if TYPE_CHECKING:`` blocks do not)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vidrestore"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST):  # noqa: ANN202 - generator of ast.Import | ast.ImportFrom
    """Every import statement, at any depth, except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(target: str) -> str:
    """The vidrestore module a dotted name lies in ('' when none: the standard library, numpy...)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target


def imports_of(name: str) -> set[str]:
    """The vidrestore modules that ``name`` imports (``from a import b`` names module a.b if it is one)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [_resolve(alias.name) for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else _resolve(base)
                for alias in node.names
            ]
        found.update(t for t in targets if t and t != name)
    return found


def import_cycles() -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a sorted list."""
    graph = {name: imports_of(name) for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return sorted(groups)


def test_the_graph_sees_lazy_imports_and_skips_type_checking_blocks(tmp_path: Path) -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import hidden\n"
        "def f():\n    import lazy\n"
    )
    assert sorted(n.names[0].name for n in _import_nodes(tree)) == ["TYPE_CHECKING", "lazy"]


def test_no_import_cycles_inside_vidrestore() -> None:
    cycles = import_cycles()
    assert cycles == [], "import cycles (a type two modules need belongs below both):\n" + "\n".join(
        " <-> ".join(group) for group in cycles
    )


@pytest.mark.parametrize("name", sorted(set(MODULES) - {"vidrestore.__main__"}))  # runs the CLI
def test_every_module_imports(name: str) -> None:
    importlib.import_module(name)


def test_inpainting_does_not_reach_up_into_the_temporal_stages() -> None:
    """The generator's engine sits below propagation; a helper both need lives below both."""
    upward = {
        name: sorted(t for t in imports_of(name) if t.startswith("vidrestore.temporal"))
        for name in MODULES
        if name.startswith(("vidrestore.inpaint", "vidrestore.models"))
    }
    assert {name: found for name, found in upward.items() if found} == {}
