"""Hostile input, fuzzed with hypothesis: only our own clear errors come out, nothing escapes.

Inputs: run ids as they arrive from URLs and CLI arguments (path traversal, absolute
paths, NUL, very long, unicode digits, non-strings), retrain YAML (structures of every
type plus random text), label CSV files, and feature parquet files with wrong types or
values out of range. Every call either succeeds or raises a ``TaskclfError`` subclass
with a one-line message; run ids never make the library touch a path outside the home
(checked with a Python audit hook on every file event, and with a sentinel file and a
decoy run folder next to the home that must stay untouched).
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from helpers_faults import ROOT, scratch_dir, write_config
from helpers_registry import champion_of, make_run, promoted_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from taskclf_core.console import jobs, review
from taskclf_core.data.featurecheck import validate_features
from taskclf_core.data.featurefiles import read_feature_file
from taskclf_core.data.labelfiles import read_labels
from taskclf_core.data.schema import LABELS, SPAN_COLUMNS
from taskclf_core.errors import (
    ConfigError,
    DataError,
    PromotionRefused,
    RegistryError,
    RunIdError,
)
from taskclf_core.paths import Home
from taskclf_core.registry.promotion import promote, rollback
from taskclf_core.registry.runids import RUN_ID_PATTERN, is_model_id, validate_run_id
from taskclf_core.registry.runs import read_run, verify_run
from taskclf_core.registry.verdict import promotability
from taskclf_core.train.config import RetrainConfig, load_retrain_config, parse_retrain_config

LIBRARY_EXAMPLES = 1000
CLI_EXAMPLES = 200
STRUCTURE_EXAMPLES = 300  # on top of the 1000 YAML texts, most of them dumped structures
FUZZ = settings(max_examples=LIBRARY_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

# --------------------------------------------------------------------------- file-access audit

_EVENTS = {
    "open", "os.listdir", "os.scandir", "os.mkdir", "os.rename", "os.remove", "os.rmdir",
    "os.truncate", "os.chmod", "os.utime", "os.symlink", "os.link", "shutil.copyfile",
    "shutil.rmtree", "shutil.move",
}
_recording: list[list[str]] = []


_TWO_PATHS = {"os.rename", "os.symlink", "os.link", "shutil.copyfile", "shutil.move"}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _recording or event not in _EVENTS:
        return
    for arg in args[: 2 if event in _TWO_PATHS else 1]:
        if isinstance(arg, (str, bytes, os.PathLike)):
            _recording[-1].append(os.path.abspath(os.fsdecode(arg)))


sys.addaudithook(_audit)
#: Code and data of Python and the installed libraries (lazy imports open them).
_ALLOWED_PREFIXES = tuple(
    {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, str(ROOT / "taskclf_core"))}
    | {sys.prefix, sys.base_prefix, str(ROOT / "taskclf_core")}
)


@contextmanager
def only_inside(home: Path) -> Iterator[None]:
    """Fail if anything in the block opens, lists, creates or removes a path outside ``home``."""
    seen: list[str] = []
    _recording.append(seen)
    try:
        yield
    finally:
        _recording.pop()
    inside = str(home) + os.sep
    outside = [
        p for p in seen
        if not (p + os.sep).startswith(inside) and not p.startswith(_ALLOWED_PREFIXES) and p != "/dev/null"
    ]
    assert outside == [], f"touched paths outside the home: {sorted(set(outside))[:5]}"


# --------------------------------------------------------------------------- run ids

INVALID_TAIL = "expected the form 20261126T052430123456Z-a1b2c3 (UTC timestamp, 'Z-', six lowercase hex digits)"

well_formed = st.builds(
    lambda when, hexes: f"{when:%Y%m%dT%H%M%S%f}Z-{hexes}",
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)),
    st.text(alphabet="0123456789abcdef", min_size=6, max_size=6),
)
nasty_pieces = st.sampled_from([
    "../", "..", "/", "\\", "\x00", "\n", "%2e%2e%2f", "%00", "~", ".tmp-", " ", "\u0660", "\uff10",
    "\u202e", "\ud7ff", "Z", "-", "T", "é", "\u00b2", "artifacts/runs/", "/etc/passwd", "C:\\",
])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A well-formed id with pieces inserted, replaced or appended (near misses)."""
    value = draw(well_formed)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(value)))
        piece = draw(nasty_pieces)
        cut = draw(st.integers(0, 1))
        value = value[:at] + piece + value[at + cut:]
    return value


def hostile_ids(decoy: str, outside: Path) -> st.SearchStrategy[str]:
    traversal = st.sampled_from([
        f"../outside/{decoy}", f"../../outside/{decoy}", f"../../../{outside.name}/{decoy}",
        str(outside / decoy), f"/{decoy}", f"{decoy}/..", f"{decoy}/../../outside/{decoy}", "..", ".", "",
        f"./{decoy}", f"{decoy}\x00", f"{decoy}\n", decoy + "/", "/etc/passwd", "../" * 40 + "etc/passwd",
    ])
    return st.one_of(
        st.text(max_size=80),
        st.text(alphabet="0123456789abcdefTZ-./\\\x00\n", max_size=40),
        well_formed,
        mutated(),
        traversal,
        st.builds(lambda n, c: c * n, st.integers(100, 20_000), st.sampled_from(["0", "a", "/", "é", "\x00"])),
    )


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[Path, Home, dict[str, str], Path]]:
    """A home with a champion and a run awaiting sign-off, next to an ``outside`` folder."""
    with scratch_dir(tmp_path) as base:
        root = base / "home"
        write_config(root)
        home = Home(root)
        champion = promoted_run(home)
        awaiting = make_run(home, champion=champion_of(home))
        outside = base / "outside"
        outside.mkdir()
        (outside / "sentinel.txt").write_text("do not touch\n")
        # A complete, promotable run outside the home: reading it would be a traversal.
        decoy = "20261126T000000000000Z-dec0de"
        os.rename(home.runs_dir / make_run(home, champion=champion_of(home)), outside / decoy)
        yield root, home, {"champion": champion, "awaiting": awaiting, "decoy": decoy}, outside


def _outside_state(outside: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(outside.rglob("*"))}


def _expect_run_id_error(call: Callable[[], object], value: object) -> str:
    with pytest.raises(RunIdError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    if isinstance(value, str) and RUN_ID_PATTERN.match(value):
        assert message == f"no run {value} in artifacts/runs"
    else:
        assert message.startswith("invalid run id ") and message.endswith(INVALID_TAIL), message
    return message


def test_hostile_run_ids_get_clear_errors_and_never_leave_the_home(registry: Any) -> None:
    root, home, ids, outside = registry
    before = _outside_state(outside)
    known = set(ids.values())
    seen = {"valid format": 0, "invalid": 0}

    @FUZZ
    @given(value=hostile_ids(ids["decoy"], outside) | st.one_of(st.none(), st.integers(), st.binary(max_size=30),
                                                                  st.lists(st.text(max_size=5), max_size=2)))
    def check(value: Any) -> None:
        if isinstance(value, str) and value in known:
            return
        seen["valid format" if isinstance(value, str) and RUN_ID_PATTERN.match(value) else "invalid"] += 1
        with only_inside(root):
            if isinstance(value, str) and RUN_ID_PATTERN.match(value):
                assert validate_run_id(value) == value
            else:
                _expect_run_id_error(lambda: validate_run_id(value), value)
            message = _expect_run_id_error(lambda: read_run(home, value), value)
            _expect_run_id_error(lambda: review.run_review(home, value), value)
            if not isinstance(value, str):
                return
            assert promotability(home, value, auto_promote=False) == (False, message)
            _expect_run_id_error(lambda: promote(home, value, approver="mallory", note="x", auto_promote=False), value)
            assert verify_run(home, value) == message
            if RUN_ID_PATTERN.match(value):
                with pytest.raises(PromotionRefused) as err:
                    rollback(home, value, approver="mallory", note="x")
                assert str(err.value) == (
                    f"there is no promoted model {value} in models/; roll back only to a model listed there"
                )
                with pytest.raises(RegistryError) as job_err:
                    jobs.read_job(home, value)
                assert str(job_err.value) == f"no retrain job {value} in artifacts/jobs"
            elif is_model_id(value):  # a taskclf bundle name: a valid model id, but no such model
                with pytest.raises(PromotionRefused, match="there is no promoted model"):
                    rollback(home, value, approver="mallory", note="x")
            else:
                with pytest.raises(RunIdError) as rollback_err:
                    rollback(home, value, approver="mallory", note="x")
                assert str(rollback_err.value).startswith("invalid model id "), rollback_err.value
                assert "\n" not in str(rollback_err.value) and len(str(rollback_err.value)) < 250
                with pytest.raises(RunIdError) as job_id_err:  # a job id is named as one
                    jobs.read_job(home, value)
                assert str(job_id_err.value).startswith("invalid job id "), job_id_err.value

    check()
    assert sum(seen.values()) >= LIBRARY_EXAMPLES * 0.9, seen
    assert seen["valid format"] >= 50, seen
    assert _outside_state(outside) == before
    assert read_run(home, ids["awaiting"]).run_id == ids["awaiting"]  # the home still works


def test_hostile_run_ids_on_the_cli_exit_2_with_one_line(
    registry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskclf_core.console.cli import app

    root, home, ids, outside = registry
    monkeypatch.setenv("TASKCLF_HOME", str(root))
    runner = CliRunner()
    before = _outside_state(outside)
    known = set(ids.values())
    count = {"n": 0}

    @settings(max_examples=CLI_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(value=hostile_ids(ids["decoy"], outside), command=st.sampled_from(["promote", "rollback"]))
    def check(value: str, command: str) -> None:
        if value in known:
            return
        count["n"] += 1
        args = ["train", command, "--approver", "mallory", "--note", "x", "--", value]
        with only_inside(root):
            result = runner.invoke(app, args)
        assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        if RUN_ID_PATTERN.match(value):
            expected = (
                f"no run {value} in artifacts/runs" if command == "promote"
                else f"there is no promoted model {value} in models/; roll back only to a model listed there"
            )
            assert lines[0] == f"error: {expected}"
        elif command == "rollback" and is_model_id(value):  # a taskclf bundle name, no such model
            assert lines[0] == (
                f"error: there is no promoted model {value} in models/; roll back only to a model listed there"
            )
        elif command == "rollback":  # rollback takes model ids (ours or taskclf bundle names)
            assert lines[0].startswith("error: invalid model id ") and "taskclf bundle name" in lines[0], lines[0]
        else:
            assert lines[0].startswith("error: invalid run id ") and lines[0].endswith(INVALID_TAIL), lines[0]

    check()
    assert count["n"] >= CLI_EXAMPLES * 0.9
    assert _outside_state(outside) == before


# --------------------------------------------------------------------------- retrain YAML

FIELDS = list(RetrainConfig.model_fields)
TRAIN_FIELDS = ["num_boost_round", "class_weight", "seed"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=12),
    st.dates(), st.datetimes(), st.sampled_from(["balanced", "none", "yes", "0x1f", "1e3", "~", ".inf"]),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
keys = st.sampled_from([*FIELDS, "train_params", "unknown_key", "Auto_Promote", "", "1"]) | st.text(max_size=10)
train_params = st.dictionaries(st.sampled_from([*TRAIN_FIELDS, "lr"]), scalars, max_size=4)
config_trees = st.dictionaries(keys, values | train_params, max_size=6) | values


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    """YAML dumped from a random structure, then maybe damaged, or plain random text."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(max_size=200))
    text = yaml.safe_dump(draw(config_trees), allow_unicode=True)
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(
            ["\x00", ":", "- ", "{", "&a ", "*a", "!!python/object:os.system ", "\t", "'", "2026-13-45",
             "!!binary x", "? ", "<<: ", "\n  ", "%YAML 9.9\n---\n"]
        )) + text[at:]
    return text


def _check_config_error(message: str, source: str) -> None:
    assert "\n" not in message, message
    assert message.startswith(f"{source}: "), message
    assert len(message) < 4000


def test_hostile_retrain_yaml_is_a_config_error_or_a_valid_config(tmp_path: Path) -> None:
    path = tmp_path / "retrain.yaml"
    outcomes = {"valid": 0, "refused": 0}

    @FUZZ
    @given(text=config_texts())
    def check(text: str) -> None:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            config = load_retrain_config(path)
        except ConfigError as exc:
            outcomes["refused"] += 1
            _check_config_error(str(exc), str(path))
            return
        outcomes["valid"] += 1
        assert isinstance(config.auto_promote, bool) and isinstance(config.train_params.seed, int)
        assert 0.0 <= config.regression_tolerance <= 1.0

    check()
    assert outcomes["refused"] >= 500 and outcomes["valid"] >= 20, outcomes


@settings(max_examples=STRUCTURE_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(tree=config_trees)
def test_hostile_config_structures_are_a_config_error_or_a_valid_config(tree: Any) -> None:
    try:
        parse_retrain_config(tree, source="fuzz.yaml")
    except ConfigError as exc:
        _check_config_error(str(exc), "fuzz.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data_lookback_days: 2026-13-45\n", "not valid YAML: a value cannot be read (month must be in 1..12)"),
        ("[" * 1500 + "]" * 1500, "not valid YAML: nested too deeply"),
        ("1: 2\n", "key 1 is not a name (keys are text); allowed keys: global_retrain_cadence_days, "),
        ("\x00", "not valid YAML at character 1: unacceptable character #x0000: special characters are not allowed"),
    ],
)
def test_yaml_that_used_to_escape_or_break_lines_is_a_one_line_config_error(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "retrain.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_retrain_config(path)
    assert str(err.value).startswith(f"{path}: {expected}"), str(err.value)
    assert "\n" not in str(err.value)


def test_billion_laughs_yaml_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines.append("train_params: *a8")  # 10**9 items if anything expands it
    path = tmp_path / "retrain.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = datetime.now(UTC)
    with pytest.raises(ConfigError) as err:
        load_retrain_config(path)
    assert (datetime.now(UTC) - started).total_seconds() < 5
    assert str(err.value).startswith(f"{path}: train_params must be a mapping of keys to values; got [[[")
    assert len(str(err.value)) < 5000


# --------------------------------------------------------------------------- label CSV

timestamps = st.one_of(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2300, 1, 1)).map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.sampled_from([
        "", "NaT", "nan", "0", "-1", "9999-12-31T23:59:59", "0001-01-01", "10000-01-01", "2025-02-30T00:00:00",
        "1e20", "2025-09-08T09:00:00+25:00", "2025-09-08 09:00:00+00:00", "now", "2262-04-12", "1677-09-21",
    ]),
    st.text(max_size=25),
)
csv_rows = st.lists(
    st.fixed_dictionaries({
        "start_ts": timestamps, "end_ts": timestamps,
        "label": st.sampled_from(LABELS) | st.text(max_size=12),
        "provenance": st.sampled_from(["manual", "synthetic"]) | st.text(max_size=10),
        "user_id": st.sampled_from(["", "u1", " u2 "]) | st.text(max_size=8),
        "confidence": st.sampled_from(["", "0.5", "1", "0", "nan", "inf", "-1", "1.5", "1e309", "abc"])
        | st.floats().map(str),
        "extend_forward": st.sampled_from(["", "True", "false", "1", "0", "yes", "2", " TRUE "]) | st.text(max_size=5),
    }),
    max_size=6,
)
headers = st.one_of(
    st.just(list(SPAN_COLUMNS)),
    st.permutations(list(SPAN_COLUMNS)),
    st.lists(st.sampled_from([*SPAN_COLUMNS, "extra", "", "label"]), max_size=9),
)


@st.composite
def label_csv_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=200))  # not even UTF-8
    if kind == 1:
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    header = draw(headers)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in draw(csv_rows):
        cells = [row.get(column, draw(st.text(max_size=5))) for column in header]
        if draw(st.integers(0, 9)) == 0:
            cells = cells[: draw(st.integers(0, len(cells)))] + draw(st.lists(st.text(max_size=4), max_size=2))
        writer.writerow(cells)
    prefix = "\ufeff" if draw(st.booleans()) else ""
    return (prefix + buffer.getvalue()).encode("utf-8", "surrogatepass")


def test_hostile_label_csv_is_a_data_error_or_a_valid_span_frame(tmp_path: Path) -> None:
    with scratch_dir(tmp_path) as folder:
        path = folder / "labels.csv"
        outcomes = {"valid": 0, "refused": 0}

        @FUZZ
        @given(data=label_csv_bytes())
        def check(data: bytes) -> None:
            path.write_bytes(data)
            try:
                frame = read_labels(path)
            except DataError as exc:
                outcomes["refused"] += 1
                assert str(exc).startswith(str(path)) or str(path) in str(exc), str(exc)
                return
            outcomes["valid"] += 1
            assert list(frame.columns) == list(SPAN_COLUMNS)
            zero = frame["end_ts"] == frame["start_ts"]
            assert bool(((frame["end_ts"] > frame["start_ts"]) | (zero & frame["extend_forward"])).all())
            assert set(frame["label"]) <= set(LABELS)

        check()
    assert outcomes["refused"] >= 300 and outcomes["valid"] >= 20, outcomes


# --------------------------------------------------------------------------- feature parquet


@pytest.fixture(scope="module")
def base_table() -> pa.Table:
    """Three valid rows of a schema v1 day file, as written to parquet."""
    from taskclf_core.data.synthetic import generate_team

    team = generate_team("default", users=1, days=1, date_to=date(2026, 11, 20), seed=0)
    return pa.Table.from_pandas(team.features.head(3), preserve_index=False)


BAD_NUMBERS = [-1, -1e300, 1e300, float("inf"), float("-inf"), float("nan"), 2**62, 0.5, 1e6, 10**30]
TYPES = {
    "string": pa.string(), "large string": pa.large_string(), "float": pa.float64(), "float32": pa.float32(),
    "int": pa.int64(), "uint8": pa.uint8(), "bool": pa.bool_(), "bytes": pa.binary(),
    "naive time": pa.timestamp("us"), "time in Kolkata": pa.timestamp("us", tz="Asia/Kolkata"),
    "time in s": pa.timestamp("s", tz="UTC"), "date": pa.date32(), "list": pa.list_(pa.int64()),
    "null": pa.null(),
}


def _retyped(column: pa.ChunkedArray, target: pa.DataType, draw: st.DrawFn, rows: int) -> pa.Array:
    """``column`` cast to ``target`` when Arrow can, else fresh values of that type."""
    try:
        return pa.array(column.to_pylist(), type=target) if target != pa.string() else column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError, ValueError):
        pass
    if pa.types.is_timestamp(target) or pa.types.is_date(target):
        when = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 1, 1)))
        return pa.array([when] * rows).cast(target, safe=False)
    samples = {
        "string": st.text(max_size=6), "large_string": st.text(max_size=6), "double": st.floats(),
        "float": st.floats(width=32), "int64": st.integers(-(2**63), 2**63 - 1), "uint8": st.integers(0, 255),
        "bool": st.booleans(), "binary": st.binary(max_size=4), "list<item: int64>": st.lists(st.integers(0, 9), max_size=2),
    }
    strategy = samples.get(str(target), st.none())
    return pa.array([draw(strategy) for _ in range(rows)], type=target)


@st.composite
def mutated_tables(draw: st.DrawFn, base: pa.Table) -> pa.Table:
    """The base rows with one to three columns damaged: type, value, null, name, missing, extra, rows."""
    table = base
    for _ in range(draw(st.integers(1, 3))):
        names = table.column_names
        if not names or table.num_rows == 0:
            break
        name = draw(st.sampled_from(names))
        index = names.index(name)
        column = table.column(index)
        rows = table.num_rows
        row = draw(st.integers(0, rows - 1))
        kind = draw(st.sampled_from(["value", "null", "type", "text", "rename", "drop", "extra", "duplicate", "empty"]))
        if kind in ("value", "null"):
            values = column.to_pylist()
            if kind == "null":
                values[row] = None
            elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type):
                values[row] = draw(st.sampled_from(BAD_NUMBERS))
            elif pa.types.is_timestamp(column.type):
                values[row] = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 1, 1)))
            else:
                values[row] = draw(st.text(max_size=10))
            try:
                array = pa.array(values, type=column.type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
                array = pa.array([None if v is None else str(v) for v in values], type=pa.string())
            table = table.set_column(index, name, array)
        elif kind == "type":
            target = TYPES[draw(st.sampled_from(sorted(TYPES)))]
            table = table.set_column(index, name, _retyped(column, target, draw, rows))
        elif kind == "text":
            table = table.set_column(index, name, pa.array([draw(st.text(max_size=6)) for _ in range(rows)]))
        elif kind == "rename":
            table = table.rename_columns([draw(st.text(max_size=8)) if i == index else n for i, n in enumerate(names)])
        elif kind == "drop":
            table = table.remove_column(index)
        elif kind == "extra":
            table = table.append_column(draw(st.text(min_size=1, max_size=8)), pa.array([1] * rows))
        elif kind == "duplicate":
            table = pa.concat_tables([table, table.slice(row, 1)])
        else:
            table = table.slice(0, 0)
    return table


def _base_with(base_table: pa.Table, column: str, array: pa.Array) -> pa.Table:
    return base_table.set_column(base_table.column_names.index(column), column, array)


# Found by the fuzz test below: a user_id column of lists crashed the duplicate-key check
# (ArrowNotImplementedError / TypeError), and an empty file whose time column is not a
# timestamp passed validation, then crashed on .dt while being normalised.
@pytest.mark.parametrize("reader", ["read_feature_file", "validate_features"])
def test_list_user_id_is_a_data_error(tmp_path: Path, base_table: pa.Table, reader: str) -> None:
    table = _base_with(base_table, "user_id", pa.array([[1]] * 3, pa.list_(pa.int64())))
    path = tmp_path / "features.parquet"
    pq.write_table(table, path)
    if reader == "read_feature_file":
        source, column_type = str(path), "list<element: int64>[pyarrow]"
        with pytest.raises(DataError) as caught:
            read_feature_file(path)
    else:
        source, column_type = "rows", "object"
        with pytest.raises(DataError) as caught:
            validate_features(table.to_pandas(ignore_metadata=True), source="rows")
    assert str(caught.value) == (
        f"{source} row 1, column user_id: [1] is not text "
        f"(column type {column_type}; expected text); 2 more rows like this"
    )


def test_empty_list_user_id_file_is_a_data_error(tmp_path: Path, base_table: pa.Table) -> None:
    table = _base_with(base_table, "user_id", pa.array([[1]] * 3, pa.list_(pa.int64()))).slice(0, 0)
    path = tmp_path / "features.parquet"
    pq.write_table(table, path)
    with pytest.raises(DataError) as caught:
        read_feature_file(path)
    assert str(caught.value) == (
        f"{path}: column user_id: no rows to show, but the column is not text "
        "(column type list<element: int64>[pyarrow]; expected text)"
    )


@pytest.mark.parametrize("column", ["bucket_start_ts", "bucket_end_ts"])
@pytest.mark.parametrize("reader", ["read_feature_file", "validate_features"])
def test_empty_file_with_a_boolean_time_column_is_a_data_error(
    tmp_path: Path, base_table: pa.Table, reader: str, column: str
) -> None:
    table = _base_with(base_table, column, pa.array([True] * 3)).slice(0, 0)
    path = tmp_path / "features.parquet"
    pq.write_table(table, path)
    with pytest.raises(DataError) as caught:
        if reader == "read_feature_file":
            read_feature_file(path)
        else:
            validate_features(table.to_pandas(ignore_metadata=True), source="rows")
    source = str(path) if reader == "read_feature_file" else "rows"
    assert str(caught.value) == (
        f"{source}: column {column}: no rows to show, but the column is not a timestamp "
        "(column type bool; expected timestamp[us, tz=UTC])"
    )


def test_hostile_feature_parquet_is_a_data_error_or_a_valid_frame(tmp_path: Path, base_table: pa.Table) -> None:
    with scratch_dir(tmp_path) as folder:
        path = folder / "features.parquet"
        pq.write_table(base_table, path)
        assert len(read_feature_file(path)) == 3  # the base is valid
        outcomes = {"valid": 0, "refused": 0}

        @FUZZ
        @given(table=mutated_tables(base_table))
        def check(table: pa.Table) -> None:
            pq.write_table(table, path)
            try:
                loaded = read_feature_file(path)
            except DataError as exc:
                outcomes["refused"] += 1
                assert str(path) in str(exc), str(exc)
            else:
                outcomes["valid"] += 1
                assert "user_id" in loaded.columns
                assert str(loaded["bucket_start_ts"].dtype) == "datetime64[us, UTC]"
            # The same rows handed over in memory (as a caller that skips the reader would);
            # Arrow cannot build such a frame from columns with duplicate names, so no
            # caller can hand those over (the file path above refuses them).
            try:
                frame = table.to_pandas(ignore_metadata=True)
            except pa.ArrowNotImplementedError:
                assert len(set(table.column_names)) < len(table.column_names)
                return
            try:
                validate_features(frame, source="in-memory rows")
            except DataError as exc:
                assert str(exc).startswith("in-memory rows"), str(exc)

        check()
    assert outcomes["refused"] >= 500, outcomes
