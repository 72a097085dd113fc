"""The shape of the tree: no import cycles between probe's modules (lazy imports inside
functions count too: a cycle held apart by a function-level import is still a cycle), no
module over the house's size, and the layers in the order the data walks."""

from __future__ import annotations

import ast
from pathlib import Path

import probe

ROOT = Path(probe.__file__).resolve().parent
MAX_LINES = 400

# Packages a module of each layer must not import: the data walks cli -> (serve ->) session
# -> steps -> engine -> diagnosis -> output, and the middle never reaches back up to the CLI.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "probe.model": ("probe.",),
    "probe.plan": (
        "probe.cli",
        "probe.serve",
        "probe.session",
        "probe.output",
        "probe.engine",
        "probe.steps",
    ),
    "probe.steps": ("probe.cli", "probe.serve", "probe.session", "probe.output", "probe.diagnosis"),
    # beside steps: what to send to a UDP port and what its answer says, pure (scapy only in
    # its builders); engine, session, diagnosis and capture may use it, it uses none of them
    "probe.payloads": (
        "probe.cli",
        "probe.serve",
        "probe.session",
        "probe.output",
        "probe.diagnosis",
        "probe.engine",
        "probe.steps",
        "probe.plan",
        "probe.capture",
    ),
    "probe.engine": (
        "probe.cli",
        "probe.serve",
        "probe.session",
        "probe.output",
        "probe.diagnosis",
    ),
    "probe.diagnosis": ("probe.cli", "probe.serve", "probe.session", "probe.output", "probe.steps"),
    "probe.capture": ("probe.cli", "probe.serve", "probe.session", "probe.output"),
    "probe.output": (
        "probe.cli",
        "probe.serve",
        "probe.session",
        "probe.steps",
        "probe.engine.raw",
    ),
    "probe.session": ("probe.cli", "probe.serve", "probe.output"),
    # serve runs checks through a Session and exposes them with output's metric building;
    # the CLI only starts it.
    "probe.serve": ("probe.cli",),
}
# probe.model may import nothing of probe but these (it is the bottom of the tree).
MODEL_MAY_IMPORT = ("probe.status",)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Every probe module ``name`` imports, at any depth of its code (TYPE_CHECKING blocks
    are left out: they are never executed)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def test_no_import_cycles() -> None:
    edges = graph()
    # A package's __init__ importing its own submodules is not a cycle of the layout.
    for name in edges:
        edges[name] = {m for m in edges[name] if not m.startswith(name + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert cycles == []


def test_layers_import_downward_only() -> None:
    wrong = []
    for name, deps in graph().items():
        for layer, banned in FORBIDDEN.items():
            if name == layer or name.startswith(layer + "."):
                for dep in deps:
                    if dep.startswith(banned) and not (
                        layer == "probe.model" and dep in MODEL_MAY_IMPORT
                    ):
                        wrong.append(f"{name} imports {dep}")
    assert wrong == []


def test_no_module_over_the_house_size() -> None:
    big = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert big == {}


def test_the_checker_sees_lazy_imports(tmp_path: Path) -> None:
    # The checker must not be blind to a function-level import (the usual way to hide a
    # cycle), nor count a TYPE_CHECKING one.
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from probe import model\n"
        "def f():\n    from probe.session import core\n"
    )
    known = {"probe.model", "probe.session.core", "probe.session"}
    assert imports_of("probe.x", src, known) == {"probe.session", "probe.session.core"}
