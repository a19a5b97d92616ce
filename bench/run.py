"""``make bench``: time the retrain against LightGBM's own cost, and the app's pages.

Usage::

    python -m bench.run                 # full run (sizes 1, 12, 60 users x 30 days; pages)
    python -m bench.run --quick         # smoke run: 1 user, 10 rounds, 20 runs / 5 models
    python -m bench.run --sizes 1,10,50 --no-pages
    python -m bench.run --omp 3 --omp-burners 0,1,2   # also OpenMP wait policies, 3 users,
                                                      # with 0, 1, 2 busy processes alongside
    python -m bench.run --dask 12 --no-pages --sizes 1  # the Dask engine beside the local one

A full run also measures the Dask engine (LocalCluster, 2 worker processes) beside the
local engine on the 12- and 60-user teams written as data directories (``--dask``;
``--dask ''`` skips it; see ``bench/dask_engine.py``).

Every size runs in its own subprocess, smallest first, so each reports its own peak
RSS; the pages run in another. The table is printed and written as JSON to
``artifacts/bench/bench-<UTC timestamp>.json`` and ``artifacts/bench/latest.json``.
The machine has 2 cores shared with other work. Every size records the load average and,
more telling (the load average counts the bench's own two LightGBM threads), how many
cores other processes used while the floor and the pipeline ran; above 0.25 the table
says the figures are noisy. A size whose two trainings (floor, pipeline) ran at clearly
different speeds is measured again (``--retries``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "artifacts" / "bench"
#: About 15k, 150k and 700k labelled windows (1 user-month is ~12.5k labelled windows).
DEFAULT_SIZES = (1, 12, 60)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=None, help="team sizes in users, e.g. 1,10,50 (default 1,12,60)")
    parser.add_argument("--days", type=int, default=30, help="days per team (default 30)")
    parser.add_argument("--schemas", default=None,
                        help="schema versions of the teams, e.g. v1,v3 (default v1,v3; v1 with --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="boosting rounds (default: the config's 100)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats of the cheap stages (best kept; default 3)")
    parser.add_argument("--quick", action="store_true", help="fast smoke run")
    parser.add_argument("--no-pages", action="store_true", help="skip the page renders")
    parser.add_argument("--runs", type=int, default=None, help="runs in the page registry (default 200)")
    parser.add_argument("--models", type=int, default=None, help="promoted models in the page registry (default 50)")
    parser.add_argument("--omp", type=int, default=0, metavar="USERS",
                        help="also compare OMP_WAIT_POLICY PASSIVE vs ACTIVE vs libgomp's default "
                             "(lightgbm.train on a team of USERS users)")
    parser.add_argument("--omp-threads", type=int, default=0, help="num_threads for --omp (0: OpenMP default)")
    parser.add_argument("--omp-burners", default="0",
                        help="for --omp: comma-separated numbers of busy-loop processes to run meanwhile, "
                             "to imitate other work on the machine (e.g. 0,1,2)")
    parser.add_argument("--retries", type=int, default=1,
                        help="re-measure a size when the machine's speed drifted between the floor's training "
                             "and the pipeline's (their lightgbm.train times differ by more than 15%%; default 1)")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the JSON results")
    parser.add_argument("--dask", default=None, metavar="SIZES",
                        help="team sizes (users) for the Dask engine beside the local engine "
                             "(default 12,60; none with --quick; '' to skip)")
    parser.add_argument("--child", choices=("size", "pages", "omp", "dask-data", "dask-local", "dask-engine"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--child-args", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _child(args: argparse.Namespace) -> None:
    params = json.loads(args.child_args)
    if args.child == "size":
        from bench.pipeline import measure_size

        result = measure_size(**params)
    elif args.child == "pages":
        from bench.pages import measure_pages

        result = measure_pages(**params)
    elif args.child == "omp":
        from bench.omp import measure_training

        result = measure_training(**params)
    else:
        from bench import dask_engine

        run = {"dask-data": dask_engine.write_team, "dask-local": dask_engine.run_local,
               "dask-engine": dask_engine.run_dask}[args.child]
        result = run(**params)
    args.child_out.write_text(json.dumps(result, indent=2), encoding="utf-8")


def _spawn(kind: str, params: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="taskclf-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "bench.run", "--child", kind, "--child-args", json.dumps(params), "--child-out", str(out)]
        proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
        if proc.returncode != 0:
            raise SystemExit(f"bench child {kind} {params} failed with exit code {proc.returncode}")
        return dict(json.loads(out.read_text(encoding="utf-8")))


def _omp_check(args: argparse.Namespace, rounds: int) -> dict[str, Any]:
    """lightgbm.train under each OpenMP wait policy, with 0..n other CPU-bound processes."""
    by_burners: dict[str, dict[str, list[dict[str, Any]]]] = {}
    info: dict[str, Any] = {}
    for burners in sorted({int(b) for b in args.omp_burners.split(",")}):
        _say(f"OpenMP wait policy: PASSIVE vs ACTIVE vs libgomp default, {args.omp} users, {burners} busy process(es)")
        hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
        try:
            by_policy: dict[str, list[dict[str, Any]]] = {"PASSIVE": [], "ACTIVE": [], "default": []}
            for _ in range(2):
                for policy in by_policy:
                    info = _spawn("omp", {
                        "users": args.omp, "days": args.days, "rounds": rounds, "repeats": 1,
                        "num_threads": args.omp_threads, "policy": policy,
                    })
                    by_policy[policy] += info["runs"]
        finally:
            for hog in hogs:
                hog.terminate()
                hog.wait()
        by_burners[str(burners)] = by_policy
    return {"users": args.omp, "train_rows": info["train_rows"], "num_threads": args.omp_threads,
            "by_burners": by_burners}


def _dask_check(sizes: list[int], days: int, rounds: int) -> list[dict[str, Any]]:
    """Each size written as a data directory, then the local and the Dask engine on it."""
    from bench.dask_engine import sizing

    rows = []
    for users in sizes:
        with tempfile.TemporaryDirectory(prefix="taskclf-bench-data-") as tmp:
            _say(f"dask: writing {users} user(s) x {days} days as a data directory")
            data = _spawn("dask-data", {"users": users, "days": days, "out": tmp})
            span = {"data_dir": tmp, "date_from": data["date_from"], "date_to": data["date_to"], "rounds": rounds}
            _say(f"dask: local engine on {data['windows']:,} windows")
            local = _spawn("dask-local", span)
            _say("dask: Dask engine (LocalCluster, 2 workers x 1 thread)")
            dask_run = _spawn("dask-engine", span)
        rows.append({"users": users, "days": days, "data": data, "local": local, "dask": dask_run,
                     "sizing": sizing(local, dask_run)})
    return rows


def _say(text: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S} load {os.getloadavg()[0]:.1f}] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.child:
        _child(args)
        return 0
    import taskclf_core  # noqa: F401  (sets the OpenMP wait policy the children inherit)
    from bench.common import machine
    from bench.report import DRIFT_LIMIT, speed_drift, table, targets

    quick = args.quick
    sizes = sorted({int(s) for s in args.sizes.split(",")}) if args.sizes else ([1] if quick else list(DEFAULT_SIZES))
    rounds = args.rounds or (10 if quick else 100)
    repeats = args.repeats or (1 if quick else 3)
    n_runs = args.runs or (20 if quick else 200)
    n_models = args.models or (5 if quick else 50)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "argv": sys.argv[1:] if argv is None else argv,
        "settings": {"sizes": sizes, "days": args.days, "rounds": rounds, "repeats": repeats, "quick": quick},
        "machine": machine(),
        "sizes": [],
    }
    schemas = [s.strip() for s in (args.schemas or ("v1" if quick else "v1,v3")).split(",") if s.strip()]
    result["settings"]["schemas"] = schemas
    for schema, users in ((schema, users) for schema in schemas for users in sizes):
        attempts = []
        for attempt in range(1 + max(0, args.retries)):
            _say(f"size {users} user(s) x {args.days} days, schema {schema}, {rounds} rounds"
                 + (f" (retry {attempt})" if attempt else ""))
            size = _spawn("size", {"users": users, "days": args.days, "rounds": rounds, "repeats": repeats,
                                   "schema_version": schema})
            attempts.append(size)
            drift = speed_drift(size)
            if abs(drift - 1) <= DRIFT_LIMIT:
                break
            _say(f"  the pipeline's lightgbm.train took {drift:.2f} x the floor's: machine speed changed; "
                 f"load {size['machine_start']['load_1m']:.1f} -> {size['machine_end']['load_1m']:.1f}")
        best = min(attempts, key=lambda a: abs(speed_drift(a) - 1))
        best["attempts"] = [
            {"speed_drift": round(speed_drift(a), 3), "pipeline_s": a["pipeline"]["s"], "floor_s": a["floor"]["s"],
             "load": [a["machine_start"]["load_1m"], a["machine_end"]["load_1m"]], "kept": a is best}
            for a in attempts
        ]
        result["sizes"].append(best)
    if not args.no_pages:
        _say(f"pages with {n_runs} runs and {n_models} models")
        result["pages"] = _spawn("pages", {"n_runs": n_runs, "n_models": n_models, "repeats": 1 if quick else 3})
    if args.omp:
        result["omp"] = _omp_check(args, rounds)
    dask_sizes = args.dask if args.dask is not None else ("" if quick else "12,60")
    if dask_sizes.strip():
        result["dask"] = _dask_check(sorted({int(s) for s in dask_sizes.split(",")}), args.days, rounds)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    result["targets"] = targets(result)
    text = table(result)
    if result.get("dask"):
        from bench.dask_engine import table as dask_table

        text += "\n\n" + dask_table(result["dask"])
    print(text)
    print(f"(bench wall time {result['wall_s']:.0f} s)")
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = result["created_at"].replace(":", "").replace("-", "")
    payload = json.dumps({**result, "table": text.splitlines()}, indent=2)
    (args.out / f"bench-{stamp}.json").write_text(payload, encoding="utf-8")
    (args.out / "latest.json").write_text(payload, encoding="utf-8")
    _say(f"wrote {args.out / f'bench-{stamp}.json'} and latest.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
