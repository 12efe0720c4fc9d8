"""Issue 43's fuzz campaign, in the suite: Hypothesis builds hostile records from the schemas themselves
(every field of every record kind, each given a wrong type, a non-finite or huge number, a huge string, deep
nesting or an unknown name) and each parser must refuse them in one line (a CganError) or give checked
values, never raise anything else. A parsed control command is then applied to a live run, which must
refuse it with an event or apply it, and train on."""
from __future__ import annotations

import json
import math

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from benchmarks.fault_files import HOSTILE_VALUES
from cgan_core import records
from cgan_core.errors import CganError
from cgan_core.output.checkpoint import _checked_kwargs
from cgan_core.run import control
from cgan_core.run.events import RECORDED, from_line
from cgan_core.run.guard import GuardConfig
from cgan_core.step.config import TrainConfig

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
HOSTILE = st.one_of(  # the campaign's own list (bench_faults), and Hypothesis's search around it
    st.sampled_from(HOSTILE_VALUES + [-0.0]), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def field_names(schema: type) -> list[str]:
    return [f.name for f in msgspec.inspect.type_info(schema).fields]


def hostile_record(schema: type, base: dict | None = None) -> st.SearchStrategy[dict]:
    """A record of `schema` with one field (or one unknown name) given a hostile value."""
    names = field_names(schema) + ["an_unknown_name", "__class__"]
    return st.builds(lambda name, value: {**(base or {}), name: value}, st.sampled_from(names), HOSTILE)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


CONTROL_KINDS = [r.__struct_config__.tag for r in records.CONTROL_RECORDS]


@st.composite
def control_files(draw) -> bytes:
    kind = draw(st.sampled_from(CONTROL_KINDS))
    schema = next(r for r in records.CONTROL_RECORDS if r.__struct_config__.tag == kind)
    record = draw(hostile_record(schema, {"command": kind}))
    if kind in ("set_hparams", "set_guard") and draw(st.booleans()):
        inner = records.HParams if kind == "set_hparams" else records.GuardSettings
        record = {"command": kind, "values": draw(hostile_record(inner))}
    text = json.dumps(record)  # NaN and Infinity as Python writes them: not JSON, refused as such
    if draw(st.booleans()):  # deep nesting in place of one value
        text = text.replace("null", deep(draw(st.integers(1, 50_000))), 1) if "null" in text else deep(60_000)
    return text.encode()


@FUZZ
@given(control_files())
def test_a_hostile_control_file_is_refused_in_one_line_or_parsed(data):
    try:
        command = control.parse(data)
    except CganError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 2_000
        return
    assert type(command) in control._NAME_OF


@FUZZ
@given(hostile_record(records.GuardSettings))
def test_hostile_guard_settings_are_refused_by_name(values):
    try:
        GuardConfig().replace(**values)
    except CganError as exc:
        assert str(exc).startswith("guard: ")


@FUZZ
@given(hostile_record(TrainConfig))
@example({"dataset": "~0"})  # found by this test: a ~user with no home raised RuntimeError from expanduser
@example({"dataset": "d" * 400})  # longer than a file name may be
def test_a_hostile_config_is_refused_by_name(values):
    try:
        TrainConfig.from_dict(values, "config.json").resolved()
    except CganError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(st.sampled_from(sorted(RECORDED)), st.data())
def test_a_hostile_events_line_is_skipped_never_raised(kind, data):
    fields = [f.name for f in RECORDED[kind].__dataclass_fields__.values()]
    record = {"event": kind, **{name: 1 for name in fields}}
    record[data.draw(st.sampled_from([*fields, "event"]))] = data.draw(HOSTILE)
    event = from_line(json.dumps(record))
    assert event is None or isinstance(event, RECORDED[kind])
    assert from_line(deep(100_000)) is None and from_line('{"event": ' + deep(50_000) + "}") is None


@FUZZ
@given(hostile_record(records.GeneratorKwargs, {"image_shape": [1, 28, 28], "latent_dim": 8, "num_classes": 10}))
def test_hostile_generator_arguments_are_refused(kwargs):
    try:
        checked = _checked_kwargs(kwargs, "g.safetensors")
    except ValueError:
        return
    assert 1 <= checked.get("num_classes", 1) <= records.MAX_CLASSES


@FUZZ
@given(hostile_record(records.CheckpointHeader, {"schema": 1, "step": 3}))
def test_a_hostile_checkpoint_header_is_refused(header):
    try:
        parsed = records.convert(header, records.CheckpointHeader, "c.pt")
    except CganError:
        return
    assert 0 <= parsed.step <= records.MAX_STEP and math.isfinite(parsed.seconds)


@FUZZ
@given(hostile_record(records.Intent, {"kind": "branch", "id": "0123456789abcdef", "step": 2}))
def test_a_hostile_journal_is_refused(intent):
    try:
        parsed = records.decode_json(json.dumps(intent), records.Intent, "journal.json")
    except CganError:
        return
    assert ".." not in parsed.folder


@pytest.fixture(scope="module")
def live_run(tmp_path_factory, tiny_mnist):
    from cgan_core.run.training_run import TrainingRun

    run = TrainingRun(TrainConfig(batch_size=4, preset="mlp-label-concat"), out=tmp_path_factory.mktemp("fuzz") / "run",
                      dataset=tiny_mnist)
    yield run
    run.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(control_files())
def test_a_live_run_applies_or_refuses_any_control_file_and_trains_on(live_run, data):
    from cgan_core.run.control import ControlInbox
    from cgan_core.run.loop import RunLoop

    (live_run.run_dir / "control").mkdir(exist_ok=True)
    (live_run.run_dir / "control" / f"{abs(hash(data)):020d}.json").write_bytes(data)
    loop = RunLoop(live_run, inbox=ControlInbox(live_run.run_dir))
    events = list(loop._exchange_commands())  # the loop's own path for a control file: applied or refused
    assert not [e for e in events if type(e).__name__ == "RunFinished"]
    live_run.step()  # and the run trains on
    assert not list((live_run.run_dir / "control").glob("*.json"))  # each file applied or set aside


@pytest.fixture(scope="module")
def written_run(tmp_path_factory):
    """A run folder as a run writes it, and its two CSV files' text."""
    from tests.core.test_hostile_records import _real_run

    run = tmp_path_factory.mktemp("rows")
    _real_run(run)
    (run / "generator.safetensors").unlink()  # rebuilding it each example would take most of the test's time
    return run, {name: (run / name).read_text(encoding="utf-8") for name in ("metrics.csv", "quality.csv")}


CSV_TEXT = st.one_of(st.sampled_from(["", "nan", "-inf", "1e400", "9" * 40, "-1", "1.5", "0x10", " 3", '"', "a,b"]),
                     st.integers(-(2**70), 2**70).map(str), st.floats().map(repr), st.text(max_size=8))


@FUZZ
@given(st.sampled_from(["metrics.csv", "quality.csv"]), st.lists(CSV_TEXT, min_size=1, max_size=40))
@example("metrics.csv", ["9" * 30] + ["0.5"] * 13)  # a step past int64: np.array raised OverflowError
@example("quality.csv", ["9" * 30] + ["0.5"] * 28)
def test_a_hostile_csv_row_is_left_out_never_raised(written_run, name, fields):
    """Issue 43: metrics.csv and quality.csv rows were read by hand, field by field; a step past int64 crashed
    the history, the Runs view and Attach. Each row is now parsed by its schema (records.MetricsRow, the
    quality row's step and figures): a hostile row is left out, the others read."""
    import csv
    import io

    from cgan_core.compare.summary import summarise
    from cgan_core.run.folder_reader import RunTail, last_step, load_history
    from cgan_core.run.quality_file import load_reports
    run, pristine = written_run
    line = io.StringIO()
    csv.writer(line, lineterminator="\n").writerow(fields)
    (run / name).write_text(pristine[name] + line.getvalue(), encoding="utf-8")
    (run / ({"metrics.csv", "quality.csv"} - {name}).pop()).write_text(pristine[({"metrics.csv", "quality.csv"} - {name}).pop()])
    history = load_history(run)
    assert history.steps[:2].tolist() == [1, 2] and all(0 <= s <= records.MAX_STEP for s in history.steps.tolist())
    assert 0 <= last_step(run) <= records.MAX_STEP
    assert [r.step for r in load_reports(run)][:1] == [2]
    assert summarise(run).steps == last_step(run)
    RunTail(run).poll()
