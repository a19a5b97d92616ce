"""The Dask engine beside the local engine on the same data directory (``make bench``).

Three children per team size (each its own process, so each peak RSS is its own):
``dask-data`` writes the synthetic team as a taskclf data directory; ``dask-local`` runs
the local engine on it (``load_data_dir`` + ``run_retrain_pipeline``, what ``taskclf train
retrain --data-dir`` does); ``dask-engine`` starts a LocalCluster (2 worker processes x 1
thread: the machine's 2 cores), runs the Dask engine and reads each worker's peak RSS
before the cluster stops. The sizing figures (windows per worker GB, seconds per million
windows per worker core) come from the Dask run.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DATE_TO = date(2026, 6, 30)


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _worker_rss_mb() -> float:
    import resource as r

    return round(r.getrusage(r.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_team(users: int, days: int, out: str, schema_version: str = "v1") -> dict[str, Any]:
    """Write a default-scenario team as a data directory; the range it covers."""
    from taskclf_core.data.datadir import write_data_dir
    from taskclf_core.synthetic.team import generate_team

    date_from = DATE_TO - timedelta(days=days - 1)
    team = generate_team("default", users=users, date_from=date_from, date_to=DATE_TO, seed=7,
                         schema_version=schema_version)
    write_data_dir(Path(out), team.features, team.spans, version=schema_version)
    size = sum(p.stat().st_size for p in Path(out).rglob("*.parquet"))
    return {"windows": len(team.features), "spans": len(team.spans), "date_from": str(date_from),
            "date_to": str(DATE_TO), "parquet_mb": round(size / 1e6, 1), "schema_version": schema_version}


def _summary(result: Any, wall: float) -> dict[str, Any]:
    snap = result.dataset_snapshot
    return {
        "wall_s": round(wall, 2), "outcome": result.outcome, "macro_f1": round(result.challenger_macro_f1, 4),
        "dataset_hash": snap.dataset_hash, "windows": snap.feature_rows, "labelled": snap.row_count,
        "train_rows": snap.train_rows, "test_rows": snap.test_rows, "timings": result.timings,
    }


def run_local(data_dir: str, date_from: str, date_to: str, rounds: int) -> dict[str, Any]:
    """The local engine as the CLI runs it on a data directory: wall time and peak RSS."""
    import tempfile

    from taskclf_core.data.datadir import load_data_dir
    from taskclf_core.train.config import RetrainConfig
    from taskclf_core.train.retrain import run_retrain_pipeline

    config = RetrainConfig.model_validate({"train_params": {"num_boost_round": rounds}})
    with tempfile.TemporaryDirectory(prefix="taskclf-bench-local-") as home:
        started = time.perf_counter()
        loaded = load_data_dir(Path(data_dir), date.fromisoformat(date_from), date.fromisoformat(date_to))
        result = run_retrain_pipeline(config, loaded.features, loaded.spans, models_dir=Path(home) / "models",
                                      out_dir=Path(home) / "artifacts", force=True,
                                      data_warnings=list(loaded.warnings))
        wall = time.perf_counter() - started
    return {**_summary(result, wall), "peak_rss_mb": {"process": _rss_mb()}, "cores": os.cpu_count()}


def run_dask(data_dir: str, date_from: str, date_to: str, rounds: int, workers: int = 2) -> dict[str, Any]:
    """The Dask engine on a LocalCluster of ``workers`` single-threaded processes."""
    import tempfile

    import dask
    from distributed import Client, LocalCluster

    from taskclf_core.train.config import RetrainConfig
    from taskclf_core.train.dask.cluster import dask_settings, mute_stdout
    from taskclf_core.train.dask.config import ComputeConfig
    from taskclf_core.train.dask.pipeline import run_dask_retrain_pipeline

    config = RetrainConfig.model_validate({"train_params": {"num_boost_round": rounds}})
    started = time.perf_counter()
    with dask.config.set(dask_settings(ComputeConfig())):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               host="127.0.0.1", silence_logs=logging.CRITICAL)
    client = Client(cluster)
    client.run(mute_stdout)
    cluster_start = time.perf_counter() - started
    try:
        with tempfile.TemporaryDirectory(prefix="taskclf-bench-dask-") as home:
            t0 = time.perf_counter()
            result = run_dask_retrain_pipeline(
                config, ComputeConfig(engine="dask", scheduler=cluster.scheduler_address),
                data_dir=Path(data_dir), date_from=date.fromisoformat(date_from), date_to=date.fromisoformat(date_to),
                models_dir=Path(home) / "models", out_dir=Path(home) / "artifacts", force=True,
            )
            wall = time.perf_counter() - t0
        worker_rss = sorted(client.run(_worker_rss_mb).values())
    finally:
        client.close()
        cluster.close()
    return {
        **_summary(result, wall + cluster_start), "cluster_start_s": round(cluster_start, 2),
        "peak_rss_mb": {"client_and_scheduler": _rss_mb(), "workers": worker_rss}, "workers": workers,
        "threads_per_worker": 1,
    }


def sizing(local: dict[str, Any], dask_run: dict[str, Any]) -> dict[str, Any]:
    """The per-window figures the sizing table extrapolates from (Dask run)."""
    windows = dask_run["windows"]
    worker_gb = max(dask_run["peak_rss_mb"]["workers"]) / 1024
    cores = dask_run["workers"] * dask_run["threads_per_worker"]
    return {
        "overhead_ratio": round(dask_run["wall_s"] / local["wall_s"], 2),
        "windows_per_worker_gb": round(windows / dask_run["workers"] / worker_gb),
        "s_per_million_windows_per_worker_core": round(dask_run["wall_s"] * cores / (windows / 1e6), 1),
        "local_windows_per_gb": round(windows / (local["peak_rss_mb"]["process"] / 1024)),
        "same_hash": local["dataset_hash"] == dask_run["dataset_hash"],
        "macro_f1_delta": round(dask_run["macro_f1"] - local["macro_f1"], 4),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """Local vs Dask per team size: time, peak memory per process, overhead ratio."""
    out = ["Dask engine (LocalCluster, 2 workers x 1 thread) beside the local engine, same data directory"]
    head = f"{'users':>5} {'windows':>9} {'engine':>6} {'time s':>8} {'peak RSS MB per process':<36} {'macro-F1':>8}"
    out.append(head)
    for row in rows:
        local, dk, s = row["local"], row["dask"], row["sizing"]
        out.append(f"{row['users']:>5} {local['windows']:>9,} {'local':>6} {local['wall_s']:>8.1f} "
                   f"{'process ' + str(local['peak_rss_mb']['process']):<36} {local['macro_f1']:>8.4f}")
        rss = dk["peak_rss_mb"]
        mem = f"client+sched {rss['client_and_scheduler']}, workers {'/'.join(map(str, rss['workers']))}"
        out.append(f"{'':>5} {'':>9} {'dask':>6} {dk['wall_s']:>8.1f} {mem:<36} {dk['macro_f1']:>8.4f}")
        out.append(f"{'':>5} {'':>9} {'':>6} overhead x{s['overhead_ratio']} (cluster start {dk['cluster_start_s']} s); "
                   f"same hash: {s['same_hash']}; {s['windows_per_worker_gb']:,} windows per worker GB; "
                   f"{s['s_per_million_windows_per_worker_core']} s per million windows per worker core")
    return "\n".join(out)
