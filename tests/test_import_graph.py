"""kl_compat's modules import each other without a cycle, and only the command line imports the command line.

The graph is read from the installed package's sources with `ast` (kl_compat, kl_compat.adapters and
kl_compat.conformance, each where the import system finds it), not by importing them: every `import` and
`from ... import` of a kl_compat module counts, at module level and inside functions alike (a lazy import
is still a dependency, and a cycle through one is a cycle all the same). Importing `a.b.c` also runs the
packages `a.b` above it, unless they are the importer's own packages (already running): those count too.
Only imports under `if TYPE_CHECKING:` do not count: they never run (they are for the type checker).
"""

from __future__ import annotations

import ast
import importlib
import shutil
from pathlib import Path

import pytest

PACKAGES = ("kl_compat", "kl_compat.adapters", "kl_compat.conformance")
CLI = "kl_compat.cli"
ENTRY_POINTS = ("kl_compat.__main__",)  # `python -m kl_compat`: the command line, started


def package_sources(packages=PACKAGES) -> dict[str, Path]:
    """Module name -> source file, for every module of the packages (subpackages included)."""
    found: dict[str, Path] = {}
    for package in packages:
        root = Path(importlib.import_module(package).__file__).parent
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if any(not p.isidentifier() for p in parts):
                continue
            name = ".".join((package, *parts))
            found.setdefault(name.removesuffix(".__init__"), path)  # (installed: adapters/ is inside kl_compat/ too)
    return found


def imports_of(name: str, path: Path, modules) -> set[str]:
    """The kl_compat modules that importing `name` (at `path`) can import: its own imports, at any depth
    of the code, each with the packages above it that are not `name`'s own."""
    is_package = path.name == "__init__.py"
    deps: set[str] = set()
    for node in runtime_imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            targets = _from_targets(name, is_package, node, modules)
        for target in targets:
            deps |= _with_packages(name, target, modules)
    deps.discard(name)
    return deps


def runtime_imports(tree: ast.AST):
    """The import statements of a module that can run: at any depth (functions, classes, try blocks), but
    not in the body of an `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _from_targets(name: str, is_package: bool, node: ast.ImportFrom, modules) -> list[str]:
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    submodules = [f"{source}.{alias.name}" for alias in node.names]
    own_package = name == source or name.startswith(source + ".")
    names_attributes = any(m not in modules for m in submodules)  # `from pkg import name`: pkg's own code runs
    return ([source] if names_attributes or not own_package else []) + submodules


def _with_packages(importer: str, target: str, modules) -> set[str]:
    if target not in modules:
        return set()
    parts = target.split(".")
    above = {".".join(parts[:i]) for i in range(2, len(parts))}
    return {target} | {p for p in above if p in modules and not (importer == p or importer.startswith(p + "."))}


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path [a, b, ..., a], or None (depth-first search, without recursion)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt) and nxt in graph:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def cycle_through(graph: dict[str, set[str]], node: str) -> list[str] | None:
    """The shortest cycle through `node`, [node, ..., node], or None (breadth-first search)."""
    came_from: dict[str, str] = {}
    frontier = [node]
    while frontier:
        following = []
        for here in frontier:
            for nxt in sorted(graph.get(here, ())):
                if nxt == node:
                    path = [here]
                    while path[-1] != node:
                        path.append(came_from[path[-1]])
                    return path[::-1] + [node]
                if nxt not in came_from:
                    came_from[nxt] = here
                    following.append(nxt)
        frontier = following
    return None


@pytest.fixture(scope="module")
def graph():
    return import_graph(package_sources())


def test_the_graph_covers_the_package(graph):
    for name in ("kl_compat", "kl_compat.cli", "kl_compat.report.markdown", "kl_compat.adapters",
                 "kl_compat.adapters.base", "kl_compat.conformance.matrix", "kl_compat.porting.core"):
        assert name in graph, name
    assert "kl_compat.text" in graph["kl_compat.report.markdown"]
    assert "kl_compat.errors" in graph["kl_compat.adapters"]  # a function-level import counts


def test_no_import_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_only_the_command_line_imports_the_command_line(graph):
    outside = {name: sorted(d for d in deps if d == CLI or d.startswith(CLI + "."))
               for name, deps in graph.items()
               if not (name == CLI or name.startswith(CLI + ".") or name in ENTRY_POINTS)}
    assert not {k: v for k, v in outside.items() if v}


def test_the_cycle_finders_on_small_graphs():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None  # a diamond is no cycle
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "d"}, "b": set(), "d": {"e"}, "e": {"d"}}) == ["d", "e", "d"]
    assert find_cycle({"x": {"x"}}) == ["x", "x"]
    assert cycle_through({"a": {"b"}, "b": {"c", "a"}, "c": {"a"}}, "a") == ["a", "b", "a"]
    assert cycle_through({"a": {"b"}, "b": {"c"}, "c": {"b"}}, "a") is None


def test_an_injected_lazy_import_cycle_is_found(tmp_path):
    """A copy of the package's sources, with one function-level import added that closes a cycle
    (kl_compat.text, which imports nothing from the package, importing kl_compat.report.markdown): found."""
    root = Path(importlib.import_module("kl_compat").__file__).parent
    copy = tmp_path / "kl_compat"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__", "adapters", "conformance"))
    modules = {name: copy / path.relative_to(root) for name, path in package_sources(("kl_compat",)).items()
               if path.is_relative_to(root) and (copy / path.relative_to(root)).exists()}
    assert cycle_through(import_graph(modules), "kl_compat.text") is None
    text = copy / "text.py"
    text.write_text(text.read_text() + "\n\ndef _injected():\n    from .report import markdown\n\n    return markdown\n")
    graph = import_graph(modules)
    assert cycle_through(graph, "kl_compat.text") == ["kl_compat.text", "kl_compat.report.markdown", "kl_compat.text"]
    assert find_cycle(graph) is not None


def test_imports_for_the_type_checker_only_do_not_count(tmp_path):
    path = tmp_path / "framework.py"
    path.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from kl_compat.porting import semantics\n"
                    "else:\n    from kl_compat import text\n\ndef f():\n    try:\n        from . import errors\n"
                    "    except ImportError:\n        pass\n")
    modules = {"kl_compat.adapters.framework": path, "kl_compat.porting": path, "kl_compat.porting.semantics": path,
               "kl_compat.text": path, "kl_compat.adapters": path, "kl_compat.adapters.errors": path}
    assert imports_of("kl_compat.adapters.framework", path, modules) == {"kl_compat.text", "kl_compat.adapters.errors"}


def test_a_module_importing_the_cli_is_found(tmp_path):
    path = tmp_path / "merge.py"
    path.write_text("def add_parser(sub):\n    from .cli import helptext\n")
    modules = {"kl_compat.merge": path, CLI: tmp_path / "cli.py", "kl_compat.cli.helptext": tmp_path / "h.py"}
    assert imports_of("kl_compat.merge", path, modules) == {CLI, "kl_compat.cli.helptext"}
