"""The local learning rules, every one a head that writes its layer's objective as Pyro
sites (the public names are exported by :mod:`pyro_local.nn`).

- ``heads.py``: :class:`~pyro_local.nn.LocalHead` (the base of every rule) and
  :class:`~pyro_local.nn.GreedyHeads` (a learned classifier per layer);
- ``svp.py``, ``lls.py``, ``contsup.py``: :class:`~pyro_local.nn.SVP`,
  :class:`~pyro_local.nn.LLS` and :class:`~pyro_local.nn.ContSup`;
- ``local_layer.py``: a :class:`~pyro_local.nn.Stack`'s blocks with their heads as the
  layers of a :class:`~pyro_local.nn.LocalNet` (:func:`~pyro_local.nn.local_net`,
  :func:`~pyro_local.nn.backprop_net`, :func:`~pyro_local.nn.predict`). Bayesian blocks
  are ordinary blocks of a :class:`~pyro_local.nn.Stack` here.
"""
