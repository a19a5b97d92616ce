"""``make bench``: the retrain pipeline measured against LightGBM's own cost, and the app.

Run ``python -m bench.run --help``. Each team size is measured in its own subprocess
(so the peak RSS of one size is not the high-water mark of the previous one), the page
renders in another; the parent prints one table and writes it as JSON under
``artifacts/bench/``.
"""
