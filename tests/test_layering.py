"""Imports inside the package point one way, and no file imports itself back.

The layers, lowest first: distributions <- poutine <- nn <- infer <- models, guides
<- diagnostics <- cli. A package may import only the packages to its left (models and
guides share a level); :mod:`pyro_local.data` imports nothing of the package and any
package may import it. Every module of ``pyro_local/``, ``models/`` and ``guides/`` is
parsed, and every import counts, also one inside a function: a deferred import hides a
cycle from Python's import machinery, not from the design.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# setup.cfg's package_dir: the top-level models/ and guides/ install under pyro_local.
SOURCES = {"pyro_local": "pyro_local", "models": "pyro_local.models", "guides": "pyro_local.guides"}

LEVEL = {
    "distributions": 0,
    "poutine": 1,
    "nn": 2,
    "infer": 3,
    "models": 4,
    "guides": 4,
    "diagnostics": 5,
    "cli": 6,
}
# Import nothing of the package; anything may import them. ``_checks`` holds the
# argument checks every package shares (data included), so it sits below data.
BASE = "_checks"
LEAF = "data"
# The root package (only the version) may be imported by anyone, and it and its
# ``__main__`` (which runs the command line) may import anything: a cycle through them
# still fails the cycle test.
ROOT_PACKAGE = "pyro_local"
ENTRY_POINT = "pyro_local.__main__"

# A guide may import the model it guides (its site names, its class), never the
# reverse; building blocks both use belong below them, in nn.
GUIDED_MODELS = {
    "pyro_local.guides.bottom_up": "pyro_local.models.rectified_hierarchy",
    "pyro_local.guides.gaussian_encoder": "pyro_local.models.gaussian_vae",
}

# Known wrong-way edges, (importing module, imported package). Each one says when it goes.
# None is left: LocalNet moved from infer to nn (issue 15).
ALLOWED: set[tuple[str, str]] = set()


def _modules():
    """Every module of the package: dotted name -> (path, is_package)."""
    found = {}
    for folder, prefix in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            found[".".join((prefix, *parts))] = (path, is_package)
    return found


MODULES = _modules()


def _absolute(module, node):
    """The absolute name an ``ImportFrom`` node imports from (relative ones resolved)."""
    if not node.level:
        return node.module
    _, is_package = MODULES[module]
    base = module.split(".")
    # A package's own ``__init__`` is its level-1 anchor; a plain module's is its parent.
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module, node):
    """The package modules an import node loads, most specific first."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        source = _absolute(module, node)
        # ``from package import submodule`` loads the submodule; other names come
        # from the package's ``__init__``.
        names = [
            f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source
            for alias in node.names
        ]
    targets = []
    for name in names:
        # ``import pyro_local.nn.stack`` or a name inside a module: its longest known prefix.
        parts = name.split(".")
        while parts and ".".join(parts) not in MODULES:
            parts.pop()
        if parts and ".".join(parts) not in targets:
            targets.append(".".join(parts))
    return targets


def _imports():
    """Every intra-package import: (module, line, imported module)."""
    found = []
    for module, (path, _) in MODULES.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.extend((module, node.lineno, t) for t in _targets(module, node))
    return sorted(found)


IMPORTS = _imports()


def _package(module):
    """The layer a module belongs to (``pyro_local.nn.stack`` -> ``nn``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _file(module):
    return MODULES[module][0].relative_to(ROOT).as_posix()


def _wrong_way(module, target):
    source, imported = _package(module), _package(target)
    if module in (ROOT_PACKAGE, ENTRY_POINT) or target == ROOT_PACKAGE or source == imported:
        return False
    if source == BASE:
        return True
    if imported in (LEAF, BASE):
        return False
    if source == LEAF:
        return True
    if GUIDED_MODELS.get(module) == target:
        return False
    return LEVEL[imported] >= LEVEL[source]


def test_the_import_graph_is_found():
    # Guards the test itself: an empty graph would pass everything.
    assert len(MODULES) > 100
    assert ("pyro_local.infer.local_svi", "pyro_local.infer.local_elbo") in {
        (m, t) for m, _, t in IMPORTS
    }
    assert ENTRY_POINT in MODULES and "pyro_local.models.predict" in MODULES


def test_every_package_has_a_level():
    packages = {_package(m) for m in MODULES} - {None, "__main__"}
    unplaced = packages - set(LEVEL) - {LEAF, BASE}
    assert not unplaced, f"give these packages a place in LEVEL: {sorted(unplaced)}"


def test_imports_point_one_way():
    wrong = []
    for module, line, target in IMPORTS:
        if not _wrong_way(module, target):
            continue
        if (module, _package(target)) in ALLOWED:
            continue
        layers = f"{_package(module)} -> {_package(target)}"
        wrong.append(f"{_file(module)}:{line} imports {target} ({layers})")
    order = (
        "distributions <- poutine <- nn <- infer <- models/guides <- diagnostics <- cli; "
        "data imports nothing"
    )
    assert not wrong, f"imports against the layer order ({order}):\n" + "\n".join(wrong)


def test_allowlist_is_still_needed():
    # An allowed edge that no longer exists must leave the list.
    present = {(m, _package(t)) for m, _, t in IMPORTS}
    assert ALLOWED <= present, f"remove from ALLOWED: {sorted(ALLOWED - present)}"


def _cycles(edges):
    """Strongly connected components with more than one file (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(sorted(component))
    return found


def test_no_file_imports_itself_back():
    edges = {}
    lines = {}
    for module, line, target in IMPORTS:
        edges.setdefault(module, set()).add(target)
        lines.setdefault((module, target), line)
    messages = []
    for component in _cycles(edges):
        inside = [
            f"  {_file(m)}:{lines[m, t]} imports {t}"
            for m in component
            for t in sorted(edges[m])
            if t in component
        ]
        files = ", ".join(map(_file, component))
        messages.append(f"cycle between {files}:\n" + "\n".join(inside))
    assert not messages, "\n".join(messages)


def test_cycle_finder_on_a_known_graph():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "d"}, "e": {"a"}}
    assert sorted(_cycles(edges)) == [["a", "b", "c"], ["d"]]
