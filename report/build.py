"""`report`: a suite's runs → leaderboard.md, overall.md (the verdict across tasks), efficiency.md,
reproduction.md, dynonet-audit.md (when the suite trains DynoNet), earlier-recipes.md (when runs of an
earlier recipe of its cells are stored), figures, and index.html (all of it as one self-contained page) in
one folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from harness import registry
from harness.datasets import DatasetRef, load_table
from harness.protocol import prepare
from harness.store import RunStore
from harness.suite import Suite
from report import plots
from report.analysis import aggregate
from report.audit import audit_page, dynonet_audit
from report.earlier import earlier_recipes, earlier_runs
from report.leaderboard import comparisons, efficiency, leaderboard, reproduction
from report.page import write_page
from report.runs import runs_table, with_loader_scores
from report.verdict import verdict, verdict_text

PUBLISHED = Path(__file__).with_name("published.csv")
PROTOCOL_NOTES = Path(__file__).with_name("protocol_notes.csv")  # how a published number's protocol differs
PARETO_AXES = {"params": "trainable parameters", "train_seconds": "train seconds", "latency_ms": "latency ms"}
FORECAST_TAIL = 96  # lookback steps drawn before the forecast
AUDIT_HORIZON = 96  # DynoNet's README makes its claims about ETTh1 at H = 96 (audited on every dataset)


def write_report(
    suite: Suite, store: RunStore, out_dir: Path, method: str = "t", include_absurd: bool = False
) -> tuple[str, list[Path]]:
    """Write the tables and figures; return the leaderboard text and every file written. Absurd runs are in
    no table's statistics and no figure, unless `include_absurd`."""
    runs, details = runs_table(suite, store, include_absurd)
    cells = aggregate(runs, method)
    out_dir.mkdir(parents=True, exist_ok=True)
    board = "\n".join(
        leaderboard(cells, dataset, runs, method) + "\n" + comparisons(runs, cells, dataset)
        for dataset in cells["dataset"].unique()
    )
    across = verdict(runs, suite.protocol)
    overall = verdict_text(across)
    if len(across.datasets) > 1:  # the verdict leads once more than one dataset is in
        board = f"{overall}\n{board}"
    published = pd.read_csv(PUBLISHED)
    variants = {}  # entry name → the variant it runs, for models with a `variant` hyperparameter
    for spec in suite.runs:
        declared = registry.get(spec.model).hparams().get("variant")
        if declared is not None:
            variants[spec.name] = spec.params.get("variant", declared.default)
    texts = {
        "leaderboard.md": f"# {suite.name}: leaderboard\n\n{board}",
        "overall.md": f"# {suite.name}: overall\n\n{overall}",
        "efficiency.md": f"# {suite.name}: efficiency\n\n{efficiency(cells)}",
        "reproduction.md": f"# {suite.name}: published numbers\n\n"
        + reproduction(
            cells,
            published,
            with_loader_scores(runs, details, published),
            variants,
            pd.read_csv(PROTOCOL_NOTES),
        ),
    }
    sections = []
    for dataset in dict.fromkeys(spec.dataset for spec in suite.runs):
        audited = [s for s in suite.runs if s.dataset == dataset and s.pred_len == AUDIT_HORIZON]
        if any(spec.model == "dynonet" for spec in audited):
            variants = {s.name: s.params.get("variant", "published") for s in audited if s.model == "dynonet"}
            params = {spec.name: suite.param_counts[spec.key] for spec in audited}
            sections.append(dynonet_audit(runs, cells, variants, params, dataset, AUDIT_HORIZON))
    if sections:
        texts["dynonet-audit.md"] = audit_page(sections)
    earlier = earlier_recipes(earlier_runs(suite, store), runs)
    if earlier:
        texts["earlier-recipes.md"] = f"# {suite.name}: earlier recipes\n\n{earlier}"
    written = []
    for name, text in texts.items():
        (out_dir / name).write_text(text)
        written.append(out_dir / name)
    figures = out_dir / "figures"
    naive = naive_references(runs)
    for (dataset, horizon), group in cells.groupby(["dataset", "pred_len"], sort=False):
        points = group.rename(columns={"model": "model_key", "name": "model"})
        for axis, label in PARETO_AXES.items():
            base = figures / f"pareto-{dataset}-H{horizon}-{axis}"
            seeds = int(group["seeds"].max())
            interval = "Student-t" if method == "t" else "percentile-bootstrap"
            title = (f"{dataset}, H={horizon}, protocol {suite.protocol}\n"
                     f"error bars: 95% {interval} CI of the mean over {seeds} seeds")  # fmt: skip
            written += plots.plot_pareto(points, axis, base, title, label, naive)
        written += forecast_figure(suite, runs, details, dataset, horizon, figures)
        written += learning_curves(suite, runs, details, dataset, horizon, figures)
    written += gate_figures(runs, details, figures)
    if not across.table.empty:  # some task every model finished: there are ranks to draw
        written += plots.plot_critical_difference(across, figures / f"cd-{suite.protocol}")
    written.append(write_page(suite, out_dir, written))  # last: the page shows every table and figure
    return board, written


def headline(suite: Suite, runs: pd.DataFrame, board: str, commit: str) -> str:
    """The leaderboard as a README shows it: what produced it, from how many runs and CPU-hours."""
    ok = runs[runs["status"] == "ok"]
    hours = (pd.to_numeric(ok["train_seconds"]) * ok["threads"]).sum() / 3600  # a thread is a core's time
    return (
        f"Generated by `python run_suite.py report {suite.path}` at commit {commit}, from {len(ok)} of "
        f"{len(runs)} planned runs ({hours:.1f} CPU-hours of training). Do not edit by hand.\n\n{board}"
    )


def replace_block(text: str, name: str, content: str) -> str:
    """`text` with what lies between `<!-- begin NAME -->` and `<!-- end NAME -->` replaced by `content`."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    if begin not in text or end not in text:
        raise ValueError(f"has no '{begin}' ... '{end}' block")
    head, rest = text.split(begin, 1)
    return f"{head}{begin}\n{content.strip()}\n{end}{rest.split(end, 1)[1]}"


def naive_references(runs: pd.DataFrame) -> set[str]:
    """Names of the naive references: models with no trainable parameters, so nothing trained (the harness
    runs no epoch for them). Figures draw them as references, not as points on a cost axis."""
    return set(runs.loc[pd.to_numeric(runs["params"], errors="coerce") == 0, "name"])


def first_ok_runs(runs: pd.DataFrame, details: dict, dataset: str, horizon: int) -> dict[str, dict]:
    """Per model name, the stored details of its first finished seed in this (dataset, horizon)."""
    ok = runs[(runs["dataset"] == dataset) & (runs["pred_len"] == horizon) & (runs["status"] == "ok")]
    return {name: details[group.iloc[0]["key"]] for name, group in ok.groupby("name", sort=False)}


def forecast_figure(suite: Suite, runs, details, dataset: str, horizon: int, figures: Path) -> list[Path]:
    """All channels of the last stored test window: lookback tail, truth, and each model's forecast.

    Test window i targets the same rows for every lookback, so forecasts of models with different L align;
    the truth and the tail are rebuilt from the dataset with the train-rows scaler.
    """
    chosen = first_ok_runs(runs, details, dataset, horizon)
    chosen = {name: d for name, d in chosen.items() if "forecasts" in d}
    if not chosen:  # runs stored before forecasts were kept
        return []
    spec = next(s for s in suite.runs if s.dataset == dataset)
    table = load_table(DatasetRef(spec.dataset, spec.dataset_path, spec.dataset_sha256, spec.split))
    test = prepare(table, spec.split, FORECAST_TAIL, horizon, torch.device("cpu"), False).test
    window = chosen[next(iter(chosen))]["forecasts"]["windows"][-1]
    x, _, y = test.batch(torch.tensor([window]))
    predictions = {
        name: np.asarray(d["forecasts"]["predictions"][d["forecasts"]["windows"].index(window)])
        for name, d in chosen.items()
        if window in d["forecasts"]["windows"]
    }
    title = f"{dataset}, H={horizon}, test window {window} (normalised), first seed of each model"
    base = figures / f"forecast-{dataset}-H{horizon}"
    return plots.plot_forecast(
        list(table.columns), x[0].numpy(), y[0].numpy(), predictions, base, title, naive_references(runs)
    )


def learning_curves(
    suite: Suite, runs: pd.DataFrame, details: dict, dataset: str, horizon: int, figures: Path
) -> list[Path]:
    """Training loss and validation MSE per epoch of every finished run of this (dataset, horizon) that
    trained (the stored `curve`); none for a cell group with no curve stored."""
    ok = runs[(runs["dataset"] == dataset) & (runs["pred_len"] == horizon) & (runs["status"] == "ok")]
    rows = [
        {"name": run["name"], "seed": run["seed"], "best_epoch": run["best_epoch"], **epoch}
        for _, run in ok.iterrows()
        for epoch in details[run["key"]].get("curve") or []
    ]
    if not rows:
        return []
    title = f"{dataset}, H={horizon}, protocol {suite.protocol}: learning curves"
    return plots.plot_learning_curves(pd.DataFrame(rows), figures / f"curves-{dataset}-H{horizon}", title)


def gate_figures(runs: pd.DataFrame, details: dict, figures: Path) -> list[Path]:
    """DynoNet's gate matrix for one test window and across the test period, per finished cell."""
    written = []
    for (name, dataset, horizon), group in runs[runs["status"] == "ok"].groupby(
        ["name", "dataset", "pred_len"], sort=False
    ):
        signals = details[group.iloc[0]["key"]].get("signals")
        if not signals or "gate" not in signals:
            continue
        gates = np.asarray(signals["gate"])  # [K, C, hidden]
        channels = details[group.iloc[0]["key"]]["channels"]
        slug = f"{name}-{dataset}-H{horizon}".replace("/", "_")
        title = f"{name}, {dataset}, H={horizon}"
        written += plots.plot_gate_heatmap(
            gates[0], channels, figures / f"gates-{slug}", f"{title}, window 0"
        )
        written += plots.plot_gate_over_time(
            gates, signals["windows"], channels, figures / f"gates-over-time-{slug}", title
        )
    return written
