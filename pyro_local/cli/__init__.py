"""The ``pyro-local`` command line (also ``python -m pyro_local``)."""

from .main import main

__all__ = ["main"]
