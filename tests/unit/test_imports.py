# SPDX-License-Identifier: MIT
"""The package's import graph: no cycle, and the offline layers stay free of the network stack.

The graph is built from the AST of every module under src/embdim (imports inside functions count:
a lazy import is still a dependency), so a new cycle fails here before it fails at import time.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
NETWORK = ("huggingface_hub", "httpx", "httpx2", "httpcore", "httpcore2")
# Edges tolerated in a cycle (none now: any cycle fails).
KNOWN_EDGES: set = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """embdim module -> the embdim modules it imports (``from . import x`` resolved to the submodule)."""
    files = {module_name(p): p for p in (SRC / "embdim").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in files and t != mod}
        graph[mod] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path ``[a, b, ..., a]``, or None. A package's ``__init__`` importing its own
    submodules is not a cycle unless a submodule imports the package back."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (found := visit(d)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_graph_is_built_from_real_edges():
    graph = import_graph()
    assert "embdim.formats.records" in graph["embdim.formats.torchzip"]
    assert "embdim.sources.rangeread" in graph["embdim.sources.hub"]
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]


def test_no_import_cycle():
    graph = {m: {d for d in deps if (m, d) not in KNOWN_EDGES} for m, deps in import_graph().items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_lower_layers_never_import_upward():
    """formats/ and io never reach sources/ or cli/; sources/ never reaches cli/."""
    graph = import_graph()
    for mod, deps in graph.items():
        if mod.startswith("embdim.formats") or mod == "embdim.io":
            assert not {d for d in deps if d.startswith(("embdim.sources", "embdim.cli"))}, mod
        if mod.startswith("embdim.sources"):
            assert not {d for d in deps if d.startswith("embdim.cli")}, mod


def test_local_reads_and_formats_do_not_import_the_network_stack():
    code = ("import sys, embdim.formats.layout, embdim.sources.local, embdim.io; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {NETWORK!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
