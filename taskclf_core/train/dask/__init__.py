"""The Dask engine (``compute: engine: dask``): the retrain of a data directory on a cluster.

Modules: :mod:`.config` (the ``compute:`` section; imports neither dask nor LightGBM),
:mod:`.cluster` (connecting, failures), :mod:`.plan` (what the client reads),
:mod:`.data` (one task per day file on the workers), :mod:`.fit` (the distributed fit),
:mod:`.score` (scoring on the workers) and :mod:`.pipeline` (the run). This package's
``__init__`` imports nothing, so reading a config never imports dask.
"""
