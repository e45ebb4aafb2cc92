"""The public API of pyro-local: its packages, and how each exported name is documented.

Shared by the Sphinx configuration (``conf.py``, which writes one page per package)
and by ``tests/test_public_api.py``.
"""

import importlib
import inspect
import pkgutil

from sphinx.pycode import ModuleAnalyzer

# In the order of the layers (each imports only those before it); data stands apart.
PACKAGES = [
    "pyro_local.distributions",
    "pyro_local.poutine",
    "pyro_local.nn",
    "pyro_local.infer",
    "pyro_local.models",
    "pyro_local.guides",
    "pyro_local.diagnostics",
    "pyro_local.data",
    "pyro_local.cli",
]


def _attribute_doc(package, name):
    """The ``#:`` comment (or following string) documenting the constant ``name`` in the
    submodule of ``package`` that assigns it; ``""`` if there is none."""
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        submodule = f"{package}.{info.name}"
        docs = ModuleAnalyzer.for_module(submodule).find_attr_docs()
        if ("", name) in docs:
            return "\n".join(docs[("", name)]).strip()
    return ""


def describe(package, name):
    """How ``package.name`` is documented: ``(kind, doc)``, where ``kind`` is the autodoc
    directive (``"class"``, ``"function"`` or ``"data"``) and ``doc`` its docstring, or
    for a constant its ``#:`` comment where it is assigned.

    :raises AttributeError: if ``package`` has no attribute ``name``.
    """
    obj = getattr(importlib.import_module(package), name)
    if inspect.isclass(obj):
        return "class", obj.__doc__ or ""
    if callable(obj):
        return "function", getattr(obj, "__doc__", None) or ""
    return "data", _attribute_doc(package, name)
