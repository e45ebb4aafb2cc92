"""Sphinx configuration of pyro-local's API reference.

Build it with ``make docs`` (``sphinx-build -W --keep-going -n -b html docs/api
build/docs``): every warning, a broken cross-reference included, fails the build.

Each package gets one page, written at build time from its ``__all__`` (exactly those
names, nothing else), so the reference cannot drift from the public API.
"""

import importlib
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from public_api import PACKAGES, describe  # noqa: E402

project = "pyro-local"
author = "pyro-local contributors"
release = importlib.import_module("pyro_local").__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.mathjax"]
master_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"

autodoc_member_order = "bysource"
autodoc_typehints = "none"
# Sphinx documents Pyro-style reST docstrings as they are (no numpy/google parser).
autoclass_content = "class"
# Methods a class overrides without a docstring of its own (``expand``, ``forward``) are
# left out rather than shown with the docstring of torch or Pyro.
autodoc_inherit_docstrings = False

nitpicky = True
# intersphinx needs the network, which the CI machine does not have: references to
# the types of other libraries (and of Python itself) cannot resolve, so they are
# ignored here by their module. Names of pyro-local are never ignored.
_EXTERNAL = (
    r"(torch|pyro|numpy|np|arviz|az|xarray|xr|scipy|matplotlib|tqdm"
    r"|collections|contextlib|typing|enum|pathlib|os|io|abc|argparse)"
)
nitpick_ignore_regex = [
    (r"py:.*", _EXTERNAL + r"(\..*)?"),
    (r"py:.*", r"(int|float|bool|str|bytes|dict|list|tuple|set|callable|object|type|None)"),
    (r"py:.*", r"(Tensor|Module|Distribution|TorchDistribution|Messenger|PyroModule|Path)"),
]


def _write_pages(app):
    """Writes one ``<package>.rst`` per package from its ``__all__``."""
    out = HERE / "generated"
    out.mkdir(exist_ok=True)
    for package in PACKAGES:
        module = importlib.import_module(package)
        title = f"``{package}``"
        lines = [title, "=" * len(title), "", f".. automodule:: {package}", ""]
        for name in module.__all__:
            kind, doc = describe(package, name)
            if kind == "data":
                # autodoc would show the docstring of the value's type (str, a tuple):
                # a constant is documented by the ``#:`` comment where it is assigned.
                value = getattr(module, name)
                lines += [f".. py:data:: {name}", f"   :module: {package}"]
                if isinstance(value, (str, int, float)):
                    lines.append(f"   :value: {value!r}")
                lines += [""] + [f"   {line}" for line in doc.splitlines()]
            else:
                lines.append(f".. auto{kind}:: {package}.{name}")
            if kind == "class":
                lines += ["   :members:", "   :show-inheritance:"]
            lines.append("")
        page = out / f"{package.rsplit('.', 1)[1]}.rst"
        text = "\n".join(lines)
        if not page.exists() or page.read_text() != text:  # keeps incremental builds
            page.write_text(text)


def _public_bases(app, name, obj, options, bases):
    """Shows only the base classes a reader can look up: those of other libraries and
    the public ones of pyro-local (an internal base would be a broken reference)."""
    public = {
        id(getattr(module, n))
        for module in map(importlib.import_module, PACKAGES)
        for n in module.__all__
    }
    bases[:] = [b for b in bases if not b.__module__.startswith("pyro_local") or id(b) in public]


def _public_alias(app, env, node, contnode):
    """Resolves ``pyro_local.<package>.<file>.<name>`` (as docstrings inside a package
    write it; ``<file>`` may be in a folder, ``nn/rules/``) to the documented
    ``pyro_local.<package>.<name>``."""
    parts = node.get("reftarget", "").split(".")
    if node.get("refdomain") != "py" or len(parts) < 4 or parts[0] != "pyro_local":
        return None
    # pyro_local.<package>[.<folder>].<file>.<name>[.<attr>]: drop the module path
    # one segment at a time until a documented name is found.
    for cut in range(3, len(parts)):
        short = ".".join(parts[:2] + parts[cut:])
        found = env.domains["py"].resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], short, node, contnode
        )
        if found is not None:
            return found
    return None


def setup(app):
    app.connect("builder-inited", _write_pages)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("missing-reference", _public_alias)
