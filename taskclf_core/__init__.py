"""taskclf_core: keep a taskclf model fresh and safe.

The library behind the ``taskclf`` CLI and the Streamlit review console: reading taskclf
data, synthetic teams, projection of label spans, deterministic LightGBM training,
evaluation, gates, and a file-based champion registry with sign-off promotion.
"""

import os

# LightGBM's OpenMP threads busy-wait by default; when another process holds a core (the
# app server, a browser, a second job) that made training 5-15x slower here. Passive
# waiting costs little when the machine is idle. Must be set before lightgbm loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
