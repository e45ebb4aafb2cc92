"""Models built from pyro-local layers and distributions (installed as ``pyro_local.models``)."""
