"""The package's shape, checked: no import circles, and no module imports from a layer above it.

DESIGN.md's flow as layers, lowest first. An import counts wherever it is written (top level or
inside a function), except under ``if TYPE_CHECKING:``, which never runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "svmlp"

#: (layer, module prefixes), lowest first; a module may import its own layer and those below
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "svmlp.errors",
            "svmlp._imagehead",
            "svmlp._formatnames",
            "svmlp._linkdefaults",
            "svmlp._fork",
            "svmlp._files",
            "svmlp._pool",
            "svmlp._progress",
            "svmlp._signals",
            "svmlp._optional",
            "svmlp._schemas",
            "svmlp._version",
        ),
    ),
    ("model", ("svmlp.model", "svmlp.imageinfo", "svmlp._headworker")),
    ("formats", ("svmlp.formats",)),
    ("release", ("svmlp.release",)),
    ("relations", ("svmlp.links", "svmlp.stats", "svmlp.synth")),
    ("audit", ("svmlp.audit",)),
    ("torch", ("svmlp.torch",)),
    ("fiftyone", ("svmlp.fiftyone",)),
    ("train", ("svmlp.train",)),
    ("ultralytics", ("svmlp.ultralytics",)),
    (
        "surface",
        (
            "svmlp.cli",
            "svmlp.__main__",
            "svmlp.download",
            "svmlp.manifest",
            "svmlp.verify",
            "svmlp.sample",
            "svmlp",
        ),
    ),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    best = (-1, -1)  # (prefix length, layer) of the longest matching prefix
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), rank))
    if best[1] < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")
    return best[1]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, module: str, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            submodules = {f"{base}.{a.name}" for a in node.names} & known
            found.update(submodules)
            if len(submodules) < len(node.names):  # names defined in the module itself
                found.add(base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    out = set()
    for name in found:  # the deepest svmlp module each import names
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts}
    known = set(paths)
    return {m: _imports(p, m, known) for m, p in paths.items()}


GRAPH = _graph()


def _is_package(module: str) -> bool:
    return (ROOT.parent / module.replace(".", "/") / "__init__.py").exists()


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = [
        f"{m} ({LAYERS[_layer(m)][0]}) imports {d} ({LAYERS[_layer(d)][0]})"
        for m, deps in sorted(GRAPH.items())
        for d in sorted(deps)
        if _layer(d) > _layer(m)
    ]
    assert upward == []


def test_no_import_circles() -> None:
    """Tarjan's strongly connected components over module-to-module imports; a package's
    ``__init__`` importing its own submodules (to re-export them) is not a circle."""
    edges = {
        m: {d for d in deps if not (_is_package(d) and m.startswith(d + "."))} for m, deps in GRAPH.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def connect(v: str) -> None:  # the graph is a few hundred modules: recursion is fine
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    assert sorted(circles) == [], sorted(circles)


#: layers side by side, each above the model: none of them may import the others' modules
APART = {"svmlp.fiftyone": ("svmlp.audit",), "svmlp.train": ("svmlp.audit", "svmlp.fiftyone")}


def test_side_by_side_layers_stay_apart() -> None:
    crossing = [
        f"{m} imports {d}"
        for m, deps in sorted(GRAPH.items())
        for d in sorted(deps)
        for layer, banned in APART.items()
        if m.startswith(layer + ".") and d.startswith(banned)
    ]
    assert crossing == []


@pytest.mark.parametrize(
    ("module", "imports", "expect"),
    [
        ("svmlp.model.dataset", {"svmlp.formats"}, "upward"),
        ("svmlp.audit.runner", {"svmlp.links"}, "fine"),
    ],
)
def test_the_layer_check_can_fail(module: str, imports: set[str], expect: str) -> None:
    upward = any(_layer(d) > _layer(module) for d in imports)
    assert upward == (expect == "upward")
