"""Every kind of bad input gets exit code 2 and one line naming what to fix; nothing runs."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.suite import load_suite

from conftest import TINY_MODEL, tiny_suite_dict, write_suite

ROOT = Path(__file__).resolve().parent.parent
HEADER = "date,HUFL,HULL,OT\n"


def model(**changes):
    return [{**TINY_MODEL, **changes}]


def custom_csv(tmp_path: Path, body: str, name: str = "own.csv") -> str:
    (tmp_path / name).write_text(HEADER + body)
    return name


def good_rows(n: int = 400) -> str:
    return "".join(f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{i},{i % 7},{i % 5}\n" for i in range(n))


CASES = {
    "unknown top-level key": (dict(epochz=3), "epochz: unknown key"),
    "unknown model key": (dict(models=model(lookback=96)), "models[0].lookback: unknown key"),
    "unknown model": (dict(models=model(model="nosuchnet")), "models[0].model: unknown model 'nosuchnet'"),
    "unknown parameter": (
        dict(models=model(params={"kernel": 3})),
        "models[0].params.kernel: unknown parameter for dlinear",
    ),
    "wrong parameter type": (
        dict(models=model(params={"kernel_size": "abc"})),
        "models[0].params.kernel_size: expected int, got 'abc'",
    ),
    "parameter the model refuses": (
        dict(models=model(params={"kernel_size": 24})),
        "models[0].params: dlinear rejects these settings",
    ),
    "wrong train type": (dict(train={"lr": "fast"}), "train.lr: expected float, got 'fast'"),
    "duplicate entry seed": (dict(models=model(seeds=[1, 1])), "models[0].seeds[1]: duplicate value 1"),
    "empty entry seeds": (dict(models=model(seeds=[])), "models[0].seeds: empty list"),
    "bool is not an int": (dict(train={"epochs": True}), "train.epochs: expected int, got True"),
    "unknown train key": (dict(train={"learning_rate": 0.1}), "train.learning_rate: unknown key"),
    "option the strategy does not take": (
        dict(models=model(train={"options": {"controller_lr": 0.1}})),
        "models[0].train.options.controller_lr: unknown key (expected one of: none)",
    ),
    "bad lr rule": (dict(train={"lradj": "type9"}), "train.lradj: expected one of type1"),
    "bad by_horizon": (
        dict(models=model(by_horizon={24: {"params": {"kernel_size": "x"}}})),
        "models[0].by_horizon.24.params.kernel_size: expected int",
    ),
    "unknown dataset": (dict(datasets=["ETTh9"]), "datasets[0]: unknown dataset 'ETTh9'"),
    "unknown preset": (
        dict(models=[{"name": "D", "preset": "nope"}]),
        "models[0].preset: unknown preset 'nope'",
    ),
    "duplicate name": (dict(models=model() + model()), "models[1].name: duplicate name 'DLinear'"),
    "empty horizons": (dict(horizons=[]), "horizons: empty list"),
    "empty models": (dict(models=[]), "models: empty list"),
    "empty seeds": (dict(seeds=[]), "seeds: empty list"),
    "missing protocol": (dict(protocol=None), "protocol: missing (required)"),
    "lookback plus horizon too long": (
        dict(models=model(seq_len=8000), horizons=[720]),
        "lookback 8000 + horizon 720 is longer than the train split",
    ),
    "missing model name": (dict(models=[{"model": "dlinear", "seq_len": 96}]), "models[0].name: missing"),
    "lookback longer than the training rows": (
        dict(models=model(seq_len=100000)),
        "lookback 100000 is longer than the training split (8640 rows)",
    ),
    "suite-level train value named where written": (
        dict(train={"batch_size": 0}),
        "bad.yaml: train.batch_size: must be at least 1, got 0",
    ),
    "entry-level train value named where written": (
        dict(models=model(train={"batch_size": 0})),
        "models[0].train.batch_size: must be at least 1",
    ),
    "a number YAML reads as text": (dict(train={"lr": "1e-3"}), "write 1.0e-3 or 0.001"),
    "seeds for a dataset the suite lacks": (
        dict(seeds_by_dataset={"ETTm1": [1]}),
        "seeds_by_dataset.ETTm1: not one of the suite's datasets (ETTh1)",
    ),
    "a dataset's seeds not a list": (
        dict(seeds_by_dataset={"ETTh1": 3}),
        "seeds_by_dataset.ETTh1: expected list",
    ),
    "Adam's beta1 out of range": (dict(train={"beta1": 1.0}), "train.beta1: must lie in [0, 1), got 1.0"),
    "negative seed": (dict(seeds=[-1]), "seeds[0]: seed -1 is outside 0..4294967295"),
    "seed above numpy's range": (dict(seeds=[2**32]), "seeds[0]: seed 4294967296 is outside 0..4294967295"),
    "seed too large for any integer type": (
        dict(seeds=[99999999999999999999999]),
        "seeds[0]: seed 99999999999999999999999 is outside",
    ),
    "a dataset's seed out of range": (
        dict(seeds_by_dataset={"ETTh1": [-1]}),
        "seeds_by_dataset.ETTh1[0]: seed -1 is outside",
    ),
    "an entry's seed out of range": (
        dict(models=model(seeds=[2**32])),
        "models[0].seeds[0]: seed 4294967296",
    ),
    "negative grad_clip": (dict(train={"grad_clip": -1}), "train.grad_clip: must be 0 or more, got -1"),
    "negative weight_decay": (
        dict(models=model(train={"weight_decay": -0.5})),
        "models[0].train.weight_decay: must be 0 or more, got -0.5",
    ),
    "empty protocol": (dict(protocol=""), "protocol: '' must be letters, digits, spaces and _ . - / ( ) + ="),
    "empty entry name": (dict(models=model(name="")), "models[0].name: '' must be letters, digits"),
    "entry name of two lines": (dict(models=model(name="a\nb")), "models[0].name: 'a\\nb' must be letters"),
    "entry name that splits a table cell": (dict(models=model(name="A|B")), "models[0].name: 'A|B' must be"),
    "reuse of a suite that does not exist": (
        dict(reuse=["no-such-suite"]),
        "reuse[0]: no suite 'no-such-suite' (no-such-suite.yaml neither beside this suite nor shipped",
    ),
    "a preset given as a path": (
        dict(models=[{"name": "D", "preset": "../presets/dlinear-etth1"}]),
        "models[0].preset: '../presets/dlinear-etth1' is not a preset's name (a name, not a path",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_suite_exits_2_with_its_message(tmp_path, cli, case):
    changes, message = CASES[case]
    suite = tiny_suite_dict(**changes)
    suite = {k: v for k, v in suite.items() if v is not None}
    path = write_suite(tmp_path / "bad.yaml", suite)
    for command in ("run", "describe"):
        code, out, err = (
            cli(command, path, "--store", tmp_path / "store.sqlite")
            if command == "run"
            else cli(command, path)
        )
        assert code == 2, err
        assert err.startswith(f"error: {path}: ")
        assert message in err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "store.sqlite").exists()  # nothing ran


DATA_CASES = {
    "missing data file": (None, "cannot read data file"),
    "directory instead of a file": ("dir", "cannot read data file"),
    "non-numeric value": (
        "2020-01-01 00:00:00,1,2,3\n2020-01-01 01:00:00,1,x7,3\n",
        "line 3 (data row 2), column 'HULL'",
    ),
    "NaN value": ("2020-01-01 00:00:00,1,2,3\n2020-01-01 01:00:00,1,2,NaN\n", "column 'OT': value 'NaN'"),
    "empty value": ("2020-01-01 00:00:00,1,2,3\n2020-01-01 01:00:00,,2,3\n", "column 'HUFL': value ''"),
    "bad date": ("2020-01-01 00:00:00,1,2,3\nyesterday,1,2,3\n", "column 'date': cannot parse 'yesterday'"),
    "too short for its split": ("short", "is longer than the train split"),
    "not a CSV": ("binary", "not a readable CSV"),
    "dates out of order": (
        "2020-01-01 00:00:00,1,2,3\n2020-01-01 02:00:00,1,2,3\n2020-01-01 01:00:00,1,2,3\n",
        "line 4 (data row 3), column 'date': '2020-01-01 01:00:00' is not after the row before it "
        "('2020-01-01 02:00:00'); sort the rows by date",
    ),
    "a date twice": (
        "2020-01-01 00:00:00,1,2,3\n2020-01-01 01:00:00,1,2,3\n2020-01-01 01:00:00,4,5,6\n",
        "line 4 (data row 3), column 'date': '2020-01-01 01:00:00' is not after the row before it",
    ),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_custom_data_exits_2_naming_file_row_and_column(tmp_path, cli, case):
    body, message = DATA_CASES[case]
    if body == "dir":
        (tmp_path / "own.csv").mkdir()
    elif body == "short":
        custom_csv(tmp_path, good_rows(150))
    elif body == "binary":
        (tmp_path / "own.csv").write_bytes(b"\xff\xfe\x00\x81" * 100)
    elif body is not None:
        custom_csv(tmp_path, body)
    path = write_suite(tmp_path / "s.yaml", tiny_suite_dict(datasets=[{"name": "own", "path": "own.csv"}]))
    code, _, err = cli("describe", path)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.filterwarnings("error")  # numpy's warnings about empty slices would be more lines
@pytest.mark.parametrize("n_rows", [1, 2])
def test_a_custom_csv_of_one_or_two_rows_is_too_few_rows_in_one_line(tmp_path, cli, n_rows):
    custom_csv(tmp_path, good_rows(n_rows))
    path = write_suite(tmp_path / "s.yaml", tiny_suite_dict(datasets=[{"name": "own", "path": "own.csv"}]))
    code, _, err = cli("describe", path)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"own.csv: {n_rows} data row{'s' * (n_rows > 1)}, too few rows to split" in err
    assert "constant" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (bytes(range(256)) * 4, "not a suite (byte 128 is not UTF-8 text: a suite is YAML)"),
        (b"name: tiny\nname: other\n", "not valid YAML at line 2 (key 'name' given twice (first at line 1))"),
        (b"name: ti\x00ny\n", "not valid YAML at line 1 (the character '\\x00' is not allowed)"),
    ],
    ids=["random bytes", "a key twice", "NUL"],
)
def test_a_suite_file_that_is_not_clean_yaml_is_one_line(tmp_path, cli, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    for command in ("run", "describe"):
        code, _, err = cli(command, path, "--store", tmp_path / "store.sqlite")
        assert code == 2 and err.strip() == f"error: {path}: {message}"
    assert not (tmp_path / "store.sqlite").exists()


def test_a_key_given_twice_in_an_entry_is_refused_naming_it(tmp_path, cli):
    text = write_suite(tmp_path / "s.yaml", tiny_suite_dict()).read_text()
    (tmp_path / "s.yaml").write_text(text.replace("  seq_len: 96\n", "  seq_len: 96\n  seq_len: 48\n"))
    code, _, err = cli("describe", tmp_path / "s.yaml")
    assert code == 2 and "key 'seq_len' given twice" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["PatchTST/42", "DynoNet-no-controller", "seasonal_naive", "RNN (h=64) + x"])
def test_an_entry_name_may_be_what_the_shipped_suites_name_theirs(tmp_path, name):
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict(models=model(name=name))))
    assert suite.runs[0].name == name


def test_custom_csv_with_declared_checksum_mismatch(tmp_path, cli):
    custom_csv(tmp_path, good_rows())
    entry = {"name": "own", "path": "own.csv", "sha256": "0" * 64}
    code, _, err = cli("describe", write_suite(tmp_path / "s.yaml", tiny_suite_dict(datasets=[entry])))
    assert code == 2 and "checksum mismatch" in err


def test_valid_custom_csv_uses_the_70_10_20_split(tmp_path, cli):
    custom_csv(tmp_path, good_rows())
    suite = tiny_suite_dict(datasets=[{"name": "own", "path": "own.csv"}], models=model(seq_len=24))
    code, out, err = cli("describe", write_suite(tmp_path / "s.yaml", suite), "--format", "json")
    assert code == 0, err
    assert '"dataset": "own"' in out


def test_bundled_file_changed_on_disk_is_a_checksum_mismatch(tmp_path, monkeypatch, cli):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(ROOT / "data" / "SHA256SUMS", data)
    text = (ROOT / "data" / "ETTh1.csv").read_text()
    (data / "ETTh1.csv").write_text(text.replace("5.827", "5.828", 1))
    monkeypatch.setenv("DYNOBENCH_DATA_DIR", str(data))
    code, _, err = cli("describe", write_suite(tmp_path / "s.yaml", tiny_suite_dict()))
    assert code == 2 and "checksum mismatch" in err and "ETTh1.csv" in err


def test_unreadable_suite_and_invalid_yaml(tmp_path, cli):
    code, _, err = cli("run", tmp_path / "absent.yaml")
    assert code == 2 and "cannot read suite" in err
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    code, _, err = cli("describe", tmp_path / "broken.yaml")
    assert code == 2 and "not valid YAML" in err


def test_bad_arguments_exit_2(tiny_suite, cli):
    code, _, err = cli("run", tiny_suite(), "--jobs", "0")
    assert code == 2 and "--jobs" in err
    code, _, err = cli("run", tiny_suite(), "--executor", "ray", "--threads", "2", "--cpus-per-run", "1")
    assert code == 2 and err.strip() == "error: --threads 2: needs --cpus-per-run of at least 2"


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path):
    path = write_suite(tmp_path / "bad.yaml", tiny_suite_dict(models=model(params={"kernel_size": "abc"})))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_suite.py"), "run", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {path}: models[0].params.kernel_size: expected int, got 'abc'"
    assert "Traceback" not in proc.stderr and proc.stdout == ""


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"name": "D", "preset": "dlinear-etth1", "train": {"epochs": 2}},
            "train.epochs is 2, the recipe's is 10",
        ),
        ({"name": "D", "preset": "dlinear-etth1", "seq_len": 96}, "seq_len is 96, the recipe's is 336"),
        (dict(TINY_MODEL), "needs a preset"),
    ],
)
def test_official_label_only_for_recipes_run_as_they_are(tmp_path, cli, entry, message):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(protocol="official", models=[entry], train={}))
    code, _, err = cli("describe", suite)
    assert code == 2 and message in err and "protocol 'official'" in err


def test_official_suite_of_presets_and_a_model_variant_is_accepted(tmp_path, cli):
    models = [{"name": "D", "preset": "dlinear-etth1"},
              {"name": "N", "preset": "dynonet-etth1", "params": {"variant": "no_controller"}}]  # fmt: skip
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(protocol="official", models=models, train={},
                                                             horizons=[96]))  # fmt: skip
    assert cli("describe", suite)[0] == 0


def test_a_csv_given_as_the_suite_is_named_not_printed(tmp_path, cli):
    csv = tmp_path / "data.csv"
    csv.write_text("date,a,b\n" + "2016-07-01 00:00:00,1.0,2.0\n" * 500)
    code, _, err = cli("describe", csv)
    assert code == 2 and "is this a suite YAML file?" in err and len(err) < 300


def test_a_custom_csv_with_a_constant_column_is_refused_naming_it(tmp_path, cli):
    rows = "".join(f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00:00,{i},3,{i % 5}\n" for i in range(400))
    custom_csv(tmp_path, rows)
    suite = tiny_suite_dict(datasets=[{"name": "own", "path": "own.csv"}], models=model(seq_len=24))
    code, _, err = cli("describe", write_suite(tmp_path / "s.yaml", suite))
    header_columns = HEADER.strip().split(",")
    assert code == 2 and f"column {header_columns[2]!r} is constant over the training rows" in err


@pytest.mark.parametrize("name", ["..", ".hidden", "a/b", "-x"])
def test_a_suite_name_is_a_plain_folder_name(tmp_path, cli, name):
    code, _, err = cli("describe", write_suite(tmp_path / "s.yaml", tiny_suite_dict(name=name)))
    assert code == 2 and "it names a folder under results/" in err


def test_export_and_report_to_an_unwritable_place_is_one_line(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict())
    store = tmp_path / "runs.sqlite"
    assert cli("run", suite, "--store", store)[0] == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for command, out in (("export", blocker / "runs.csv"), ("report", blocker / "report")):
        code, _, err = cli(command, suite, "--store", store, "--out", out)
        assert code == 2 and f"--out {out}: cannot write there" in err and "Traceback" not in err
