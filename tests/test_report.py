"""The results side: statistics equal hand computations, tables show failures and never mix protocols,
and the regression gate fails when it should."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.store import RunStore
from harness.suite import load_suite
from report.analysis import aggregate, bootstrap, first_batches_mean, pairwise_comparison, ranks
from report.audit import dynonet_audit
from report.build import PROTOCOL_NOTES, PUBLISHED, headline
from report.check import reference_from, regressions
from report.leaderboard import comparisons, leaderboard, reproduction
from report.runs import with_loader_scores

from conftest import TINY_MODEL, tiny_suite_dict, write_suite

PNG = b"\x89PNG\r\n\x1a\n"


def run(name, seed, mse, status="ok", protocol="official", pred_len=96, model="m", seq_len=96):
    """A row as `runs_table` makes it: an absurd run has status `absurd` and its `absurd` flag set (the flag
    stays where a report keeps it in, status `ok`)."""
    ok = status in ("ok", "absurd")
    return {
        "protocol": protocol, "dataset": "ETTh1", "pred_len": pred_len, "name": name, "model": model,
        "seq_len": seq_len, "seed": seed, "status": status, "key": f"{name}-{seed}-{pred_len}-{protocol}",
        "test_mse": mse if ok else None, "test_mae": mse / 2 if ok else None, "params": 100, "flops": 1e6,
        "latency_ms": 1.0, "peak_mem_mb": 10.0, "train_seconds": 2.0, "absurd": status == "absurd",
    }  # fmt: skip


def runs(*rows):
    return pd.DataFrame(rows)


def board_rows(text):
    """A leaderboard's rows by model name, each split into its columns."""
    lines = [line.split("|") for line in text.splitlines() if line.startswith("| ")]
    return {line[1].strip(): line for line in lines}


def test_mean_std_and_t_interval_equal_scipy():
    values = [0.40, 0.42, 0.41, 0.45, 0.39]
    cells = aggregate(runs(*(run("A", i, v) for i, v in enumerate(values))))
    row = cells.iloc[0]
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert row["mse_mean"] == pytest.approx(np.mean(values))
    assert row["mse_std"] == pytest.approx(np.std(values, ddof=1))
    assert row["mse_ci"] == pytest.approx((high - low) / 2)
    assert (row["seeds"], row["n"], row["n_failed"]) == (5, 5, 0)


def test_a_single_seed_gives_no_interval():
    row = aggregate(runs(run("A", 1, 0.4))).iloc[0]
    assert row["mse_mean"] == 0.4 and math.isnan(row["mse_ci"]) and math.isnan(row["mse_std"])


def test_bootstrap_interval_covers_the_mean_and_is_reproducible():
    values = np.array([0.40, 0.42, 0.41, 0.45, 0.39])
    low, high = bootstrap(values)
    assert low < values.mean() < high and (low, high) == bootstrap(values)
    assert aggregate(runs(*(run("A", i, v) for i, v in enumerate(values))), "bootstrap").iloc[0]["mse_ci"] > 0


def test_failed_runs_are_counted_not_averaged_and_show_as_failed():
    table = runs(run("A", 1, 0.4), run("A", 2, 0.5), run("A", 3, 0, "failed"), run("B", 1, 0, "failed"),
                 run("B", 2, 0, "failed"))  # fmt: skip
    cells = aggregate(table)
    a = cells[cells["name"] == "A"].iloc[0]
    assert a["mse_mean"] == pytest.approx(0.45) and (a["n"], a["n_failed"], a["seeds"]) == (2, 1, 3)
    text = leaderboard(cells, "ETTh1", table)
    assert "failed (2/2)" in text  # B: never filled with an average
    assert "(n=2/3)" in text  # A: fewer seeds than planned


def test_best_is_bold_second_underlined_and_ties_with_the_best_are_marked():
    table = runs(*(run("A", i, v) for i, v in enumerate([0.40, 0.41])),
                 *(run("B", i, v) for i, v in enumerate([0.405, 0.415])),
                 *(run("C", i, v) for i, v in enumerate([0.60, 0.61])))  # fmt: skip
    cells = aggregate(table)
    text = leaderboard(cells, "ETTh1", table)
    assert "**0.405 ± " in text and "<u>0.410 ± " in text and " ≈</u>" in text  # B: Welch p ≥ 0.05
    assert "Student-t" in text and "Welch" in text  # the caption names the interval and the tie rule
    assert "| 0.605 ± 0.064 " in text and "0.605 ± 0.064 ≈" not in text  # C: neither bold nor tied
    ranked = ranks(cells, table).set_index("name")
    assert (
        ranked.loc["A", "rank"] == 1
        and ranked.loc["B", "tied_with_best"]
        and not ranked.loc["C", "tied_with_best"]
    )


def test_rows_go_best_average_rank_first_over_the_horizons_no_model_has_pending():
    table = runs(run("Failed", 1, 0, "failed"), run("Failed", 1, 0, "failed", pred_len=192),
                 run("Worse", 1, 0.5), run("Worse", 1, 0.3, pred_len=192),
                 run("Late", 1, 0.45), run("Late", 1, 0, "pending", pred_len=192),
                 run("Better", 1, 0.4), run("Better", 1, 0.5, pred_len=192))  # fmt: skip
    text = leaderboard(aggregate(table), "ETTh1", table)
    lines = [line.split("|") for line in text.splitlines() if line.startswith("| ")]
    assert lines[0][-3].strip() == "avg rank (MSE, H = 96)"  # Late has H = 192 pending: left out
    assert [(line[1].strip(), line[-3].strip()) for line in lines[1:]] == [
        ("Better", "1.0"),
        ("Late", "2.0"),
        ("Worse", "3.0"),
        ("Failed", "–"),
    ]


def test_the_lookbacks_line_names_each_horizon_whose_recipe_reads_another_lookback():
    table = runs(
        run("Fixed", 1, 0.4, seq_len=336), run("Fixed", 1, 0.5, pred_len=720, seq_len=336),
        run("Grows", 1, 0.4, seq_len=512), run("Grows", 1, 0.5, pred_len=720, seq_len=720),
    )  # fmt: skip
    text = leaderboard(aggregate(table), "ETTh1", table)
    assert "Lookbacks: Fixed L=336, Grows L=512 (L=720 at H = 720)." in text


def test_a_horizon_where_a_model_is_pending_marks_no_best_and_its_comparisons_say_so_far():
    table = runs(*(run("A", i, v, pred_len=h) for i, v in enumerate([0.40, 0.41]) for h in (96, 192)),
                 *(run("B", i, v, pred_len=h) for i, v in enumerate([0.30, 0.31]) for h in (96, 192)),
                 run("Late", 1, 0.5), run("Late", 1, 0, "pending", pred_len=192))  # fmt: skip
    cells = aggregate(table)
    text = leaderboard(cells, "ETTh1", table)
    lines = [line.split("|") for line in text.splitlines() if line.startswith("| ")]
    cell = {(line[1].strip(), column): line[column].strip() for line in lines[1:] for column in (2, 4)}
    assert cell["B", 2].startswith("**0.305") and cell["A", 2].startswith("<u>0.405")  # H = 96: marked
    assert cell["B", 4].startswith("0.305 ± ") and cell["A", 4].startswith("0.405 ± ")  # 192: Late pending
    assert "pending has no marks" in text
    lines = [line.split("|") for line in comparisons(table, cells, "ETTh1").splitlines() if line[:2] == "| "]
    assert {(line[1].strip(), line[3].strip()) for line in lines[1:]} == {
        ("96", "B"), ("192", "B (so far)"),
    }  # fmt: skip


def test_a_table_never_mixes_protocols():
    table = runs(run("A", 1, 0.4), run("A", 1, 0.4, protocol="lookback-512"))
    with pytest.raises(ValueError, match="never mixes protocols"):
        leaderboard(aggregate(table), "ETTh1", table)


def test_pairwise_comparison_is_welchs_t_test():
    a, b = [0.40, 0.42, 0.41], [0.45, 0.44, 0.47, 0.46]
    table = runs(*(run("A", i, v) for i, v in enumerate(a)), *(run("B", i, v) for i, v in enumerate(b)))
    row = pairwise_comparison(table, "A", "B").iloc[0]
    assert row["diff"] == pytest.approx(np.mean(a) - np.mean(b))
    assert row["p"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert 0 < row["ci"] < abs(row["diff"])


def test_two_deterministic_models_differ_exactly():
    table = runs(*(run("A", i, 0.5) for i in range(3)), *(run("B", i, 0.7) for i in range(3)))
    row = pairwise_comparison(table, "A", "B").iloc[0]
    assert row["diff"] == pytest.approx(-0.2) and row["ci"] == 0 and row["p"] == 0
    same = pairwise_comparison(runs(*(run(n, i, 0.5) for n in "AB" for i in range(2))), "A", "B").iloc[0]
    assert same["p"] == 1


def test_comparisons_against_the_best_report_welchs_p_closest_first():
    a, b, c = [0.40, 0.42, 0.41], [0.45, 0.44, 0.47, 0.46], [0.43, 0.42]
    table = runs(*(run("B", i, v) for i, v in enumerate(b)), *(run("A", i, v) for i, v in enumerate(a)),
                 *(run("C", i, v) for i, v in enumerate(c)))  # fmt: skip
    text = comparisons(table, aggregate(table), "ETTh1")
    p = stats.ttest_ind(b, a, equal_var=False).pvalue
    assert f"{np.mean(b) - np.mean(a):+.4f}" in text and f"{p:.3g}" in text and "| yes " in text
    assert text.index("| C ") < text.index("| B ")


def test_reproduction_says_whether_the_published_value_is_inside_our_interval_and_prediction_interval():
    values = [0.370, 0.372, 0.371]
    table = runs(*(run("A", i, v, model="dlinear", seq_len=336) for i, v in enumerate(values)))
    cells = aggregate(table)
    ci, pi = cells["mse_ci"].iloc[0], cells["mse_pi"].iloc[0]
    t = stats.t.ppf(0.975, 2)
    assert pi == pytest.approx(t * np.std(values, ddof=1) * math.sqrt(1 + 1 / 3)) and pi > ci
    published_mse = np.mean(values) + (ci + pi) / 2  # outside the CI of our mean, inside one run's spread
    published = pd.DataFrame([{"model": "dlinear", "dataset": "ETTh1", "pred_len": 96, "seq_len": 96,
                               "mse": published_mse, "mae": 0.399, "source": "paper"}])  # fmt: skip
    text = reproduction(cells, published, table)
    assert "| no / yes " in text and "paper" in text and "336 (published 96)" in text


def test_reproduction_compares_with_the_number_published_at_the_lookback_closest_to_ours():
    published = pd.DataFrame([{"model": "patchtst", "dataset": "ETTh1", "pred_len": 96, "seq_len": seq_len,
                               "mse": mse, "mae": 0.4, "source": f"paper L={seq_len}"}
                              for seq_len, mse in ((336, 0.375), (512, 0.370))])  # fmt: skip
    for seq_len, shown in (
        (512, ["paper L=512"]),
        (336, ["paper L=336"]),
        (96, ["paper L=336"]),  # the closest
    ):
        table = runs(*(run("P", i, 0.37, model="patchtst", seq_len=seq_len) for i in (1, 2)))
        rows = [
            line for line in reproduction(aggregate(table), published, table).splitlines() if "| P " in line
        ]
        assert [next(s for s in ("paper L=336", "paper L=512") if s in line) for line in rows] == shown


def test_reproduction_scores_ours_on_the_windows_the_authors_loader_keeps():
    window_mse = [0.3] * 256 + [0.9] * 44  # 300 windows; a loader at batch 128 drops the last 44
    table = runs(
        run("A", 1, float(np.mean(window_mse)), model="patchtst"), run("A", 2, 0.45, model="patchtst")
    )
    details = {key: {"test_window_mse": window_mse} for key in table["key"]}
    published = pd.DataFrame([{"model": "patchtst", "dataset": "ETTh1", "pred_len": 96, "seq_len": 96,
                               "mse": 0.3, "mae": 0.4, "source": "paper",
                               "test_drop_last_batch": 128}])  # fmt: skip
    scored = with_loader_scores(table.assign(n_test_windows=300), details, published)
    assert scored["test_mse_loader"].tolist() == pytest.approx([0.3, 0.3])
    assert scored["n_loader_windows"].tolist() == [256, 256]
    assert first_batches_mean([1.0, 2.0, 3.0], 2) == 1.5 and math.isnan(first_batches_mean([1.0], 2))
    text = reproduction(aggregate(table), published, scored)
    assert "0.300 ± 0.000 (256 of 300 windows)" in text


def test_reproduction_names_each_protocol_difference_of_a_row_and_lists_them_with_sources():
    table = runs(*(run(name, i, 0.4, model=model, pred_len=h) for name, model in (("P", "patchtst"),
                   ("X", "crossformer")) for h in (96, 336) for i in (1, 2)))  # fmt: skip
    notes_of = {("patchtst", 96): "sel", ("patchtst", 336): "sel", ("crossformer", 96): "rerun;sel"}
    published = pd.DataFrame([{"model": m, "dataset": "ETTh1", "pred_len": h, "seq_len": 96, "mse": 0.4,
                               "mae": 0.4, "source": "paper", "notes": notes_of.get((m, h))}
                              for m in ("patchtst", "crossformer") for h in (96, 336)])  # fmt: skip
    notes = pd.DataFrame([{"id": "sel", "topic": "selection", "note": "batch means", "source": "vali()"},
                          {"id": "rerun", "topic": "a rerun", "note": "not theirs", "source": "Table 10"},
                          {"id": "unused", "topic": "other", "note": "x", "source": "y"}])  # fmt: skip
    text = reproduction(aggregate(table), published, table, notes=notes)
    rows = {(line.split("|")[1].strip(), line.split("|")[3].strip()): line.split("|")[10].strip()
            for line in text.splitlines() if line.startswith(("| P ", "| X "))}  # fmt: skip
    assert rows == {("P", "96"): "[1] selection", ("P", "336"): "[1] selection",
                    ("X", "96"): "[2] a rerun; [1] selection", ("X", "336"): "–"}  # fmt: skip
    assert (
        "1. **selection**: batch means. Source: vali().\n2. **a rerun**: not theirs. Source: Table 10."
        in text
    )
    assert "other" not in text
    assert "Where their protocol differs" not in reproduction(
        aggregate(table), published.drop(columns="notes"), table
    )


def test_every_published_numbers_notes_are_written_down():
    published = pd.read_csv(PUBLISHED)
    ids = set(pd.read_csv(PROTOCOL_NOTES)["id"])
    used = {i for notes in published["notes"].dropna() for i in notes.split(";")}
    assert used <= ids and used  # and an unused note is not dead text:
    assert ids <= used


def test_regression_gate_passes_against_itself_and_fails_when_stricter_or_missing():
    cells = aggregate(runs(run("A", 1, 0.40), run("A", 2, 0.42), run("B", 1, 0.5), run("B", 2, 0.5)))
    reference = reference_from(cells)
    assert regressions(cells, reference, 0.05, 3.0).empty
    stricter = reference.assign(mse_mean=reference["mse_mean"] * 0.8, mse_std=0.001)
    assert len(regressions(cells, stricter, 0.05, 3.0)) == 2
    missing = pd.concat([reference, reference.iloc[:1].assign(name="C")])
    bad = regressions(cells, missing, 0.05, 3.0)
    assert list(bad["why"]) == ["missing"]
    failed = aggregate(runs(run("A", 1, 0, "failed"), run("B", 1, 0.5), run("B", 2, 0.5)))
    assert list(regressions(failed, reference, 0.05, 3.0)["why"]) == ["failed (1/1)"]


def test_check_and_report_commands_on_a_real_tiny_suite(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(seeds=[1, 2]))
    store, reference = tmp_path / "runs.sqlite", tmp_path / "reference.csv"
    code, out, _ = cli("check", suite, "--store", store, "--reference", reference, "--update-reference")
    assert code == 0 and reference.exists()
    assert cli("check", suite, "--store", store, "--reference", reference)[0] == 0
    frame = pd.read_csv(reference)
    frame.assign(mse_mean=frame["mse_mean"] * 0.5).to_csv(reference, index=False)
    code, out, _ = cli("check", suite, "--store", store, "--reference", reference)
    assert code == 1 and "regressed" in out and "DLinear" in out
    with_missing = pd.concat([frame, frame.assign(name="NotInTheSuite")])
    with_missing.to_csv(reference, index=False)
    code, out, _ = cli("check", suite, "--store", store, "--reference", reference)
    assert code == 1 and "NotInTheSuite" in out and "missing" in out
    code, _, err = cli("check", suite, "--store", store, "--reference", tmp_path / "absent.csv")
    assert code == 2

    code, out, _ = cli("report", suite, "--store", store, "--out", tmp_path / "report")
    assert code == 0 and "DLinear" in out
    for name in ("leaderboard.md", "efficiency.md", "reproduction.md"):
        assert (tmp_path / "report" / name).read_text().startswith("# tiny")
    figures = sorted((tmp_path / "report" / "figures").glob("*.png"))
    assert {f.stem.split("-")[0] for f in figures} == {"pareto", "forecast", "curves"}
    assert all(f.read_bytes()[:8] == PNG for f in figures)
    pareto = (tmp_path / "report" / "figures" / "pareto-ETTh1-H24-params.svg").read_text()
    assert "error bars: 95% Student-t CI of the mean over 2 seeds" in pareto


def test_report_of_a_partly_run_suite_shows_pending_cells(tmp_path, cli):
    store = tmp_path / "runs.sqlite"
    assert cli("run", write_suite(tmp_path / "a.yaml", tiny_suite_dict()), "--store", store)[0] == 0
    bigger = tiny_suite_dict(
        models=[*tiny_suite_dict()["models"], {**TINY_MODEL, "name": "Later", "seq_len": 48}]
    )
    code, out, _ = cli(
        "report", write_suite(tmp_path / "b.yaml", bigger), "--store", store, "--out", tmp_path / "r"
    )
    assert code == 0
    later = next(line for line in out.splitlines() if line.startswith("| Later"))
    assert "pending" in later


def test_dynonet_audit_judges_each_claim_from_the_runs():
    mse = {"DLinear": 0.375, "PatchTST": 0.372, "iTransformer": 0.39, "Crossformer": 0.42, "TSMixer": 0.37,
           "DynoNet": 0.386, "DynoNet-nc": 0.40, "DynoNet-clean": 0.395}  # fmt: skip
    models = {"DLinear": "dlinear", "PatchTST": "patchtst", "iTransformer": "itransformer",
              "Crossformer": "crossformer", "TSMixer": "tsmixer"}  # fmt: skip
    jitter = {name: [0.0007 * (seed * (i + 1) % 3) for seed in (0, 1, 2, 3)] for i, name in enumerate(mse)}
    rows = [
        run(name, seed, value + 0.002 * seed + jitter[name][seed], model=models.get(name, "dynonet"))
        for name, value in mse.items()
        for seed in (1, 2, 3)
    ]
    table = runs(*rows)
    variants = {"DynoNet": "published", "DynoNet-nc": "no_controller", "DynoNet-clean": "clean"}
    params = {"DynoNet": 93_954, "PatchTST": 81_728, "TSMixer": 1_757_336, "iTransformer": 841_568,
              "Crossformer": 11_338_592, "DLinear": 64_704}  # fmt: skip
    text = dynonet_audit(table, aggregate(table), variants, params)
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "| rank 4 by mean MSE " in lines["rank 2 of the six models"]  # after TSMixer, PatchTST, DLinear
    assert "does not hold" in lines["rank 2 of the six models"]
    assert "| holds " in lines["94K parameters"]
    assert "0.87×" in lines["5× fewer parameters than PatchTST (Transformer)"]
    assert "| holds " in lines["the controller improves the forecast (published vs no_controller)"]
    leak = next(v for k, v in lines.items() if k.startswith("its test number owes nothing"))
    assert "| does not hold " in leak  # published beats clean by ~0.009 on every seed
    assert "| holds " in lines["MSE 0.386 / MAE 0.415"]  # 0.386 lies in one run's spread of ours
    assert "lookbacks differ" not in text and "DynoNet vs TSMixer, both at L = 96" in text
    assert "own official recipe at L = 96" in lines["rank 2 of the six models"]  # not "and lookback"
    assert "provisional" not in text  # every planned seed finished

    elsewhere = dynonet_audit(table.assign(dataset="ETTm1"), aggregate(table.assign(dataset="ETTm1")),
                              variants, params, "ETTm1")  # fmt: skip
    claimed = next(line for line in elsewhere.splitlines() if line.startswith("| MSE 0.386"))
    assert "| not claimed here " in claimed and "for ETTh1" in claimed
    assert elsewhere.startswith("## ETTm1, H = 96") and "do they carry over?" in elsewhere.splitlines()[0]
    assert "does not hold" in next(line for line in elsewhere.splitlines() if "rank 2 of" in line)

    unfinished = runs(*rows[:-1], run("DynoNet-clean", 3, 0.0, status="failed", model="dynonet"))
    text = dynonet_audit(unfinished, aggregate(unfinished), variants, params)
    leak = next(line for line in text.splitlines() if "owes nothing" in line)
    assert "(provisional: 2 of 3 seeds)" in leak  # two pairs with clean of the three planned


def test_report_with_no_finished_run_says_so_in_one_line(tmp_path, cli):
    suite = write_suite(tmp_path / "a.yaml", tiny_suite_dict(seeds=[1, 2]))
    store = tmp_path / "runs.sqlite"
    RunStore(store)  # a store that holds none of the suite's runs
    code, out, err = cli("report", suite, "--store", store, "--out", tmp_path / "r")
    assert code == 2 and out == ""
    assert err.strip().endswith("(2 pending, 0 failed)") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_tied_means_welch_not_significant_even_where_the_intervals_overlap():
    offsets = [-0.006, -0.003, 0.0, 0.003, 0.006]
    table = runs(*(run("A", i, 0.400 + d) for i, d in enumerate(offsets)),
                 *(run("B", i, 0.408 + d) for i, d in enumerate(offsets)))  # fmt: skip
    cells = aggregate(table).set_index("name")
    assert (
        cells.loc["A", "mse_mean"] + cells.loc["A", "mse_ci"]
        > cells.loc["B", "mse_mean"] - cells.loc["B", "mse_ci"]
    )
    assert pairwise_comparison(table, "B", "A")["p"].iloc[0] < 0.05
    assert not ranks(cells.reset_index(), table).set_index("name").loc["B", "tied_with_best"]


def test_check_validates_the_reference_before_training_and_fails_on_uncovered_or_new_cells(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict())
    store, reference = tmp_path / "runs.sqlite", tmp_path / "reference.csv"
    header = "protocol,dataset,name,pred_len,seq_len,mse_mean,mse_std,n\n"
    for body, message in [
        ("", "holds no cell"),
        ("tiny,ETTh1,DLinear,24,96,abc,0.01,2\n", "row 2, column mse_mean: 'abc' is not a number"),
    ]:
        reference.write_text(header + body)
        code, _, err = cli("check", suite, "--store", store, "--reference", reference)
        assert code == 2 and message in err
    code, _, err = cli("check", suite, "--store", store, "--reference", tmp_path / "absent.csv")
    assert code == 2 and not store.exists()  # refused before anything trained

    reference.write_text(header + "tiny,ETTh1,Other,24,96,0.5,0.01,2\n")
    code, out, _ = cli("check", suite, "--store", store, "--reference", reference)
    assert code == 1 and "covers none of the suite's 1 cells" in out
    reference.write_text(header + "tiny,ETTh1,Other,24,96,0.5,0.01,2\ntiny,ETTh1,DLinear,24,96,9.9,0.01,1\n")
    code, out, _ = cli("check", suite, "--store", store, "--reference", reference)
    assert code == 1 and "Other" in out and "missing" in out
    two = write_suite(
        tmp_path / "two.yaml", tiny_suite_dict(models=[dict(TINY_MODEL), {**TINY_MODEL, "name": "New"}])
    )
    code, out, _ = cli("check", two, "--store", store, "--reference", reference)
    assert code == 1 and "New" in out and "not in the reference" in out


def test_a_diverged_but_finite_run_is_flagged_everywhere_and_counted_nowhere_unless_asked(tmp_path, cli):
    hot = {**TINY_MODEL, "name": "Hot", "train": {"lr": 1e6}}  # diverges, yet its losses stay finite
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict(models=[dict(TINY_MODEL), hot]))
    store, reference = tmp_path / "runs.sqlite", tmp_path / "reference.csv"
    code, out, err = cli("run", suite, "--store", store)
    assert code == 0  # stored ok
    assert "ABSURD: val MSE above" in next(
        line for line in err.splitlines() if "Hot ETTh1 L=96 H=24 seed=1: test" in line
    )
    assert "| 0/1, 1 absurd " in next(line for line in out.splitlines() if line.startswith("| Hot"))
    assert "1 absurd (diverged" in err.splitlines()[-1]
    _, out, _ = cli("describe", suite, "--store", store)
    assert "ok, absurd (val MSE" in out
    code, out, _ = cli("report", suite, "--store", store, "--out", tmp_path / "r")
    rows = board_rows(out)
    assert code == 0 and rows["Hot"][2].strip() == "absurd (1/1)" and rows["Hot"][-3].strip() == "–"
    assert rows["DLinear"][2].strip().startswith("**") and "kept in" not in out
    code, out, _ = cli("report", suite, "--store", store, "--out", tmp_path / "r", "--include-absurd")
    assert code == 0 and "absurd runs kept in" in out and "⚠ 1 absurd kept in" in out

    code, out, _ = cli("check", suite, "--store", store, "--reference", reference, "--update-reference")
    assert code == 1 and "reference not written: Hot" in out and not reference.exists()
    stored = {row["name"]: row["test_mse"] for row in RunStore(store).rows()}
    reference.write_text("protocol,dataset,name,pred_len,seq_len,mse_mean,mse_std,n\n" + "".join(
        f"tiny,ETTh1,{name},24,96,{mse},,1\n" for name, mse in stored.items()
    ))  # fmt: skip
    code, out, _ = cli("check", suite, "--store", store, "--reference", reference)
    assert code == 1 and "absurd (1/1)" in next(line for line in out.splitlines() if "| Hot" in line)
    assert "DLinear" not in out  # it passes


def test_an_absurd_run_counts_in_no_mean_rank_mark_or_comparison_and_the_table_says_so():
    table = runs(run("A", 1, 0.40), run("A", 2, 0.41), run("B", 1, 0.405), run("B", 2, 0.415),
                 run("G", 1, 8e5, "absurd"), run("G", 2, 9e5, "absurd"),  # diverged: G would be second
                 run("D", 1, 0.50), run("D", 2, 1.5e8, "absurd"))  # fmt: skip
    cells = aggregate(table)
    by_name = cells.set_index("name")
    assert math.isnan(by_name.loc["G", "mse_mean"])  # no Pareto point, no y-axis to 1.5e8
    assert by_name.loc["D", "mse_mean"] == 0.5 and by_name.loc["D", ["n", "n_absurd"]].tolist() == [1, 1]
    text = leaderboard(cells, "ETTh1", table)
    rows = board_rows(text)
    assert rows["G"][2].strip() == "absurd (2/2)" and rows["G"][-3].strip() == "–"  # unranked, last
    assert list(rows)[1:] == ["A", "B", "D", "G"]
    assert rows["A"][2].strip().startswith("**") and rows["B"][2].strip().endswith(" ≈</u>")
    assert rows["D"][2].strip() == "0.500 (n=1/2) ⚠ 1 absurd left out"
    assert "absurd (k/m), ⚠ k absurd left out" in text and "kept in" not in text
    against = comparisons(table, cells, "ETTh1")
    assert "| G " not in against and "| D " in against

    kept = table.assign(status="ok")  # report --include-absurd: as before, and the table says so
    text = leaderboard(aggregate(kept), "ETTh1", kept)
    rows = board_rows(text)
    assert "**absurd runs kept in** (`report --include-absurd`)" in text
    assert "⚠ 2 absurd kept in" in rows["G"][2] and rows["G"][-3].strip() == "3.0"


def test_an_absurd_run_fails_the_gate_like_a_failed_one():
    fine = aggregate(runs(run("A", 1, 0.40), run("A", 2, 0.42), run("B", 1, 0.5), run("B", 2, 0.5)))
    reference = reference_from(fine)
    now = aggregate(runs(run("A", 1, 0.40), run("A", 2, 1e8, "absurd"),  # A's one good seed is on target
                         run("B", 1, 0.5, "absurd"), run("B", 2, 0.5, "absurd")))  # fmt: skip
    bad = regressions(now, reference, 0.05, 3.0)
    assert dict(zip(bad["name"], bad["why"], strict=True)) == {"A": "absurd (1/2)", "B": "absurd (2/2)"}
    mixed = aggregate(runs(run("A", 1, 0, "failed"), run("A", 2, 1e8, "absurd"), run("B", 1, 0.5),
                           run("B", 2, 0.5)))  # fmt: skip
    assert list(regressions(mixed, reference, 0.05, 3.0)["why"]) == ["failed (1/2), absurd (1/2)"]


def test_the_audit_says_a_cell_is_not_testable_because_its_runs_diverged():
    table = runs(run("DynoNet", 1, 8e5, "absurd", model="dynonet"), run("DynoNet", 2, 9e5, "absurd",
                 model="dynonet"), run("DLinear", 1, 0.4, model="dlinear"), run("DLinear", 2, 0.41,
                 model="dlinear"))  # fmt: skip
    text = dynonet_audit(table, aggregate(table), {"DynoNet": "published"}, {"DynoNet": 93_954})
    assert "DynoNet (published) has 0 finished seed(s) of 2, absurd (2/2)" in text
    assert "no finished run yet: DynoNet absurd (2/2), PatchTST" in text


def test_a_published_number_of_one_variant_is_compared_with_that_variant_only():
    names = ("DynoNet", "DynoNet-nc")
    table = runs(*(run(name, i, 0.39, model="dynonet", seq_len=512) for name in names for i in (1, 2)))
    published = pd.DataFrame([{"model": "dynonet", "dataset": "ETTh1", "pred_len": 96, "seq_len": 512,
                               "mse": 0.386, "mae": 0.415, "source": "README",
                               "variant": "published"}])  # fmt: skip
    variants = {"DynoNet": "published", "DynoNet-nc": "no_controller"}
    text = reproduction(aggregate(table), published, table, variants)
    assert "| DynoNet " in text and "DynoNet-nc" not in text


def test_report_puts_the_leaderboard_in_a_readme_block(tmp_path, cli):
    suite = write_suite(tmp_path / "s.yaml", tiny_suite_dict())
    store = tmp_path / "runs.sqlite"
    assert cli("run", suite, "--store", store)[0] == 0
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\n<!-- begin tiny -->\nold\n<!-- end tiny -->\n\nafter\n")
    code, _, _ = cli("report", suite, "--store", store, "--out", tmp_path / "r", "--readme", readme)
    text = readme.read_text()
    assert code == 0 and "old" not in text and text.endswith("<!-- end tiny -->\n\nafter\n")
    assert "from 1 of 1 planned runs" in text and "CPU-hours of training" in text and "| DLinear" in text
    readme.write_text("no block here\n")
    code, _, err = cli("report", suite, "--store", store, "--out", tmp_path / "r", "--readme", readme)
    assert code == 2 and "has no '<!-- begin tiny -->'" in err


def test_the_headline_counts_a_run_on_two_threads_as_two_cores_of_training_time(tmp_path):
    suite = load_suite(write_suite(tmp_path / "s.yaml", tiny_suite_dict()))
    runs = pd.DataFrame({
        "status": ["ok", "ok", "pending"], "train_seconds": [3600.0, 1800.0, None], "threads": [1, 2, 1],
    })  # fmt: skip
    text = headline(suite, runs, "| board |", "abc1234")
    assert "from 2 of 3 planned runs (2.0 CPU-hours of training)" in text
