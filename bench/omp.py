"""LightGBM training alone under a given ``OMP_WAIT_POLICY`` (set by the parent process).

``taskclf_core/__init__.py`` defaults the policy to PASSIVE; the bench runs this child
with PASSIVE and ACTIVE alternately so the choice can be re-checked on an idle machine
(and under load).
"""

from __future__ import annotations

import os
import time
from typing import Any

from bench.common import load_average


def measure_training(users: int, days: int, rounds: int, repeats: int, num_threads: int, policy: str) -> dict[str, Any]:
    """Time ``lightgbm.train`` (the pipeline's parameters) on a team's training matrix.

    ``policy`` is ``PASSIVE``, ``ACTIVE``, ``default`` (libgomp's own: spin about 300k
    iterations, then sleep) or ``spin=N`` (no policy, ``GOMP_SPINCOUNT=N``); it is set
    before LightGBM (and so libgomp) is loaded.
    """
    import taskclf_core  # noqa: F401  (its default must not win: set the policy after it)

    os.environ.pop("GOMP_SPINCOUNT", None)
    if policy == "default":
        os.environ.pop("OMP_WAIT_POLICY", None)
    elif policy.startswith("spin="):
        os.environ.pop("OMP_WAIT_POLICY", None)
        os.environ["GOMP_SPINCOUNT"] = policy.removeprefix("spin=")
    else:
        os.environ["OMP_WAIT_POLICY"] = policy
    import lightgbm as lgb

    from bench.pipeline import DATE_FROM, SCENARIO, SEED
    from taskclf_core.data.projection import project_spans
    from taskclf_core.data.schema import FEATURES
    from taskclf_core.data.split import split_by_time
    from taskclf_core.model.encoding import fit_training_codes
    from taskclf_core.model.lgbm import class_weights, label_codes, train_params
    from taskclf_core.model.serving import categorical_columns, feature_matrix
    from taskclf_core.synthetic.team import generate_team

    team = generate_team(SCENARIO, users=users, days=days, date_from=DATE_FROM, seed=SEED)
    labelled = project_spans(team.features, team.spans)
    train_df = labelled.iloc[split_by_time(labelled)["train"]]
    names = list(FEATURES["v1"])
    fitted = fit_training_codes(train_df, categorical_columns("v1"), seed=0)
    X = feature_matrix(train_df, names, fitted.encoders, codes=fitted.codes)
    y = label_codes(train_df["label"])
    params = train_params(seed=0, num_threads=num_threads)
    runs = []
    for _ in range(repeats):
        load = load_average()
        t0, c0 = time.perf_counter(), time.process_time()
        dataset = lgb.Dataset(
            X, label=y, weight=class_weights(y, "balanced"), feature_name=names,
            categorical_feature=[names.index(c) for c in categorical_columns("v1")],
            params={"max_bin": params["max_bin"], "verbosity": -1}, free_raw_data=True,
        )
        lgb.train(params, dataset, num_boost_round=rounds)
        runs.append({"s": round(time.perf_counter() - t0, 3), "cpu_s": round(time.process_time() - c0, 3), "load": load})
    return {
        "policy": policy,
        "num_threads": num_threads,
        "train_rows": int(X.shape[0]),
        "runs": runs,
    }
