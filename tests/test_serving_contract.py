"""A model we train and promote is the model taskclf serves, with the probabilities we gated.

For each schema (v1, v2 on taskclf's own fixture rows; v3 on ``v3-aw``, built by taskclf's
real feature builder) a real retrain on the data folder, a sign-off, then taskclf's serving
steps (``tests/taskclf_serving.py``, written from the fixture README) on the champion.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from helpers_retrain import CHECKLIST_OPEN, make_home
from taskclf_serving import FACTS, categorical_feature_indices, resolve_active_bundle, serve

from taskclf_core.console.service import RetrainRequest, promote_run, run_retrain
from taskclf_core.data.datadir import load_data_dir
from taskclf_core.model.evaluation import apply_reject, evaluate_predictions
from taskclf_core.model.lgbm import label_codes
from taskclf_core.model.serving import predict_proba
from taskclf_core.paths import Home
from taskclf_core.train.champion import load_champion
from taskclf_core.train.stages import Clock, prepare_data

FIXTURES = Path(__file__).parent / "fixtures" / "taskclf-data"
CASES = {
    "v1": ("v1", date(2025, 7, 1), date(2025, 7, 3), None),
    "v2": ("v2", date(2025, 7, 1), date(2025, 7, 3), "94f7f790-6ac8-5241-8e27-6c984d608741"),
    "v3": ("v3-aw", date(2025, 9, 9), date(2025, 9, 11), None),
}
#: Thresholds every fixture model meets (the v1/v2 fixture labels are noisy on purpose):
#: this test is about what is served, not about the reference verdict.
OPEN_GATES = {
    "macro_f1": 0.0, "weighted_f1": 0.0, "breakidle_precision": 0.0, "breakidle_recall": 0.0,
    "class_precision_floor": 0.0, "reject_rate_min": 0.0, "reject_rate_max": 1.0, **CHECKLIST_OPEN,
}


def _promoted_home(tmp_path: Path, version: str, models_folder: str = "models") -> tuple[Home, str]:
    folder, first, last, user = CASES[version]
    root = tmp_path / version
    make_home(root, gates=OPEN_GATES, require_baseline_improvement=False,
              train_params={"num_boost_round": 20, "seed": 3})
    home = Home.resolve(root, models_dir=root / models_folder)
    result = run_retrain(home, RetrainRequest(
        force=True, data_dir=FIXTURES / folder, date_from=first, date_to=last, user_id=user,
    ))
    assert result.outcome == "awaiting_signoff", result.reason
    assert result.run_id is not None
    promote_run(home, result.run_id, approver="Ana Reviewer", note="serving contract test")
    return home, result.run_id


@pytest.mark.slow
@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_promoted_bundle_is_what_taskclf_serves_with_the_probabilities_we_gated(tmp_path: Path, version: str) -> None:
    home, run_id = _promoted_home(tmp_path, version)
    facts = FACTS["schemas"][version]
    bundle = resolve_active_bundle(home.models_dir)  # taskclf's pointer rules, no repair
    assert bundle == home.models_dir / run_id

    metadata = json.loads((bundle / "metadata.json").read_text())
    assert metadata["schema_version"] == version and metadata["schema_hash"] == facts["schema_hash"]
    assert metadata["unknown_category_freq_threshold"] == 5
    assert metadata["unknown_category_mask_rate"] == 0.05
    import lightgbm

    booster = lightgbm.Booster(model_file=str(bundle / "model.txt"))
    assert booster.feature_name() == facts["model_feature_columns"]
    assert categorical_feature_indices(bundle) == facts["categorical_feature_indices"]
    encoders = json.loads((bundle / "categorical_encoders.json").read_text())
    assert list(encoders) == facts["categorical_columns"]
    for vocabulary in encoders.values():
        assert vocabulary == sorted(vocabulary) and FACTS["unknown_token"] in vocabulary
        assert all(isinstance(v, str) for v in vocabulary)

    # The probabilities taskclf serves are those our evaluation used, on the run's test rows.
    folder, first, last, user = CASES[version]
    loaded = load_data_dir(FIXTURES / folder, first, last, user_id=user)
    data = prepare_data(loaded.features, loaded.spans, holdout_user_fraction=0.0, source={},
                        warnings=[], clock=Clock(None))
    served = serve(bundle, data.eval_df)
    champion = load_champion(home).model
    assert champion is not None
    ours = predict_proba(champion.booster, data.eval_df, champion.feature_names, champion.encoders)
    assert np.array_equal(served, ours)
    y = label_codes(data.eval_df["label"])
    users = data.eval_df["user_id"].astype("str").to_numpy()
    served_report = evaluate_predictions("challenger", y, apply_reject(served, 0.55), users, proba=served)
    evaluation = json.loads((home.runs_dir / run_id / "evaluation.json").read_text())
    assert served_report.macro_f1 == evaluation["challenger"]["macro_f1"]
    assert served_report.confusion_matrix == evaluation["challenger"]["confusion_matrix"]
    # every prediction taskclf makes on the whole folder, nulls included, equals ours
    everything = loaded.features.reset_index(drop=True)
    assert np.array_equal(serve(bundle, everything),
                          predict_proba(champion.booster, everything, champion.feature_names, champion.encoders))


@pytest.mark.slow
def test_pointer_resolves_in_taskclf_for_a_models_folder_not_named_models(tmp_path: Path) -> None:
    home, run_id = _promoted_home(tmp_path, "v1", models_folder="registry")
    pointer = json.loads((home.models_dir / "active.json").read_text())
    assert pointer["model_dir"] == f"registry/{run_id}"
    assert resolve_active_bundle(home.models_dir) == home.models_dir / run_id
