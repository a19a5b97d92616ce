"""taskclf's policy-aware resolution and serving, written from ``fixtures/upstream-policy/README.md``.

Independent of our code on purpose (it imports nothing from ``taskclf_core``): a test can
check that what we promote or roll back is what taskclf's ``resolve_inference_config``
resolves and serves. Facts followed ("Precedence", "What makes a policy unusable",
"Calibrator store", "Serving: order of operations"):

1. ``models/inference_policy.json`` loads when it is JSON with the required fields
   (``model_dir``, ``model_schema_hash``, ``model_label_set``, ``reject_threshold``) and
   ``policy_version`` ``"v1"``; its ``model_dir`` (joined onto the folder holding
   ``models/``) must be a directory, else taskclf falls back to ``active.json`` with 0.55
   and no calibrator;
2. the store: ``calibrator_store_dir`` missing → identity with the policy's threshold;
   present without ``store.json`` → taskclf raises; else ``global.json`` and each listed
   user's ``users/<uid>.json`` whose file exists;
3. per row: the user's calibrator else the global one; temperature ``exp(log(clip p)/T -
   max) / sum`` (``T == 1`` unchanged), isotonic per-class interp, clip 1e-12, renormalise;
4. reject iff ``max(q) < threshold`` (per-user entry where listed), label = first argmax.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LABELS = sorted(["BreakIdle", "Build", "Communicate", "Debug", "Meet", "ReadResearch", "Review", "Write"])
REQUIRED = ("model_dir", "model_schema_hash", "model_label_set", "reject_threshold")


class TaskclfRaises(AssertionError):
    """taskclf's policy-aware path would raise here (nothing served)."""


@dataclass
class Resolved:
    model_dir: Path
    from_policy: bool
    threshold: float
    per_user: dict[str, float] = field(default_factory=dict)
    global_cal: dict[str, Any] | None = None
    user_cals: dict[str, dict[str, Any]] = field(default_factory=dict)
    store_dir: Path | None = None


def _load_policy(models_dir: Path) -> dict[str, Any] | None:
    path = models_dir / "inference_policy.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return None
    if not isinstance(data, dict) or any(k not in data for k in REQUIRED):
        return None
    if data.get("policy_version", "v1") != "v1":
        return None
    try:
        data["reject_threshold"] = float(data["reject_threshold"])
    except (TypeError, ValueError):
        return None
    return data


def resolve(models_dir: Path) -> Resolved:
    """What ``resolve_inference_config(models_dir)`` resolves (no overrides)."""
    home = models_dir.parent
    policy = _load_policy(models_dir)
    if policy is not None and (home / policy["model_dir"]).is_dir():
        model_dir = home / policy["model_dir"]
        if not (model_dir / "model.txt").is_file():
            raise TaskclfRaises(f"LightGBMError: Could not open {model_dir}/model.txt")
        resolved = Resolved(model_dir, True, policy["reject_threshold"],
                            dict(policy.get("per_user_reject_thresholds") or {}))
        store_rel = policy.get("calibrator_store_dir")
        if store_rel:
            store = home / store_rel
            if store.is_dir():
                if not (store / "store.json").is_file():
                    raise TaskclfRaises(f"FileNotFoundError: {store}/store.json")
                meta = json.loads((store / "store.json").read_text())
                resolved.store_dir = store
                resolved.global_cal = json.loads((store / "global.json").read_text())
                for uid in meta.get("user_ids", []):
                    user_file = store / "users" / f"{uid}.json"
                    if user_file.exists():
                        resolved.user_cals[uid] = json.loads(user_file.read_text())
        return resolved
    active = json.loads((models_dir / "active.json").read_text())
    return Resolved(home / active["model_dir"], False, 0.55)


def _calibrate_row(row: np.ndarray, cal: dict[str, Any] | None) -> np.ndarray:
    kind = (cal or {}).get("type", "identity")
    if kind == "identity":
        return row
    if kind == "temperature":
        t = cal["temperature"]  # type: ignore[index]
        if t == 1.0:
            return row
        z = np.log(np.clip(row, 1e-12, None)) / t
        z = z - z.max(axis=-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    out = np.empty_like(row)
    for c, reg in enumerate(cal["regressors"]):  # type: ignore[index]
        x = np.clip(row[:, c], reg["X_min_"], reg["X_max_"])
        out[:, c] = np.clip(np.interp(x, np.array(reg["X_thresholds_"]), np.array(reg["y_thresholds_"])), 1e-12, None)
    return out / out.sum(axis=1, keepdims=True)


@dataclass
class ServedRows:
    proba: np.ndarray
    thresholds: np.ndarray
    labels: list[str]


def serve_rows(resolved: Resolved, raw: np.ndarray, user_ids: list[str]) -> ServedRows:
    """taskclf's online serving of raw probabilities, row by row (``calibrate_batch``)."""
    proba = np.empty_like(raw)
    thresholds = np.empty(len(raw))
    labels = []
    for i, uid in enumerate(user_ids):
        cal = resolved.user_cals.get(uid, resolved.global_cal)
        proba[i] = _calibrate_row(raw[i : i + 1], cal)[0]
        thresholds[i] = resolved.per_user.get(uid, resolved.threshold)
        top = int(np.argmax(proba[i]))
        labels.append("Mixed/Unknown" if proba[i].max() < thresholds[i] else LABELS[top])
    return ServedRows(proba, thresholds, labels)
