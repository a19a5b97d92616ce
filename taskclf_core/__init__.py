"""taskclf_core: keep a taskclf model fresh and safe.

The library behind the ``taskclf`` CLI and the Streamlit review console: reading taskclf
data, synthetic teams, projection of label spans, deterministic LightGBM training,
evaluation, gates, and a file-based champion registry with sign-off promotion.
"""

__version__ = "0.1.0"
