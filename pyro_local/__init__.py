"""pyro-local: structured and local variational inference for deep models, on Pyro."""

__version__ = "0.1.0"
