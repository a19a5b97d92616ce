"""The review as charts and as a self-contained HTML report (altair and vl-convert only here)."""
