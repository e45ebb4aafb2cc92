"""Guides (variational families) for pyro-local models (installed as ``pyro_local.guides``)."""
