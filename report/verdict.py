"""The verdict across tasks: which model is better in general, by how much, and how sure we are.

A task is one (dataset, horizon) of one protocol; a model's score on it is its mean test metric over its
finished seeds. Over the tasks every listed model finished (the rule: a model with no finished task is left
out; a task some remaining model has not finished is left out for everyone; nothing is imputed), the table
gives fev's aggregates (autogluon/fev `analysis.py`; shared/specs/leaderboard-stats.md): skill score against
the seasonal naive (1 − geometric mean of the relative error, clipped to [0.01, 100]), win rate (ties ½) and
average rank, each with a 95% percentile bootstrap interval that resamples datasets, not tasks: horizons of
one dataset share their test data. Significance: pairwise Wilcoxon signed-rank tests over tasks with Holm's
correction (Benavoli et al. 2016), by scikit-posthocs; with n tasks the smallest two-sided exact p is 2/2ⁿ,
so below that floor a pair is "not testable", never "no difference".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scikit_posthocs
from tabulate import tabulate

from report.analysis import ALPHA, CONFIDENCE

REFERENCE = "seasonal_naive"  # the denominator of the relative error (a model key)
CLIP = (0.01, 100.0)  # fev's clipping of relative errors
RESAMPLES = 2000
SEED = 0


@dataclass
class Verdict:
    """What the overall table rests on and what it found."""

    protocol: str
    scores: pd.DataFrame  # task (dataset, pred_len) × model name: mean test metric over seeds
    left_out_models: dict[str, str]  # name → why
    left_out_tasks: dict[tuple, list[str]]  # task → the models missing on it
    table: pd.DataFrame  # per model: skill, win rate, rank (each with its interval), MAE skill
    p_values: pd.DataFrame  # Holm-adjusted Wilcoxon p, model × model

    @property
    def n_tasks(self) -> int:
        return len(self.scores)

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(self.scores.index.get_level_values("dataset")))

    @property
    def testable(self) -> bool:
        """Whether the exact two-sided Wilcoxon test can reach α with this many tasks at all."""
        return 2 / 2**self.n_tasks < ALPHA


def task_scores(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Task × model name: the mean test metric of each finished cell (`runs_table` sets absurd runs
    aside unless asked)."""
    ok = runs[runs["status"] == "ok"]
    ok = ok.assign(score=ok[f"test_{metric}"].astype(float))
    scores = ok.pivot_table(index=["dataset", "pred_len"], columns="name", values="score")
    return scores.reindex(columns=list(dict.fromkeys(runs["name"])))  # an entry with nothing finished too


def complete_tasks(scores: pd.DataFrame, reference: str) -> tuple[pd.DataFrame, dict, dict]:
    """The rule for missing cells: tasks where the reference has a score; models with none of those left
    out; then tasks some remaining model misses left out for everyone."""
    scores = scores[scores[reference].notna()] if reference in scores else scores.iloc[0:0]
    left_models = {name: "no finished task" for name in scores.columns if scores[name].isna().all()}
    scores = scores.drop(columns=list(left_models))
    missing = scores.isna()
    left_tasks = {task: list(scores.columns[row]) for task, row in missing.iterrows() if row.any()}
    return scores[~missing.any(axis=1)], left_models, left_tasks


def per_dataset_sums(
    scores: pd.DataFrame, reference: str
) -> tuple[list[str], dict[str, np.ndarray], np.ndarray]:
    """Each aggregate is a ratio of sums over tasks, so a dataset contributes fixed sums: per dataset, the
    log relative errors' sum [M], the ranks' sum [M] and the wins matrix [M, M] (ties ½), and its task
    count. A resample of datasets is then a weighted sum of them."""
    datasets = list(dict.fromkeys(scores.index.get_level_values("dataset")))
    log_relative = np.log(scores.div(scores[reference], axis=0).clip(*CLIP).to_numpy(dtype=float))
    ranks = scores.rank(axis=1, method="average").to_numpy(dtype=float)
    values = scores.to_numpy(dtype=float)
    wins = (values[:, :, None] < values[:, None, :]) + 0.5 * (values[:, :, None] == values[:, None, :])
    of = scores.index.get_level_values("dataset").to_numpy()
    sums = {
        "log_relative": np.stack([log_relative[of == d].sum(axis=0) for d in datasets]),  # [D, M]
        "ranks": np.stack([ranks[of == d].sum(axis=0) for d in datasets]),  # [D, M]
        "wins": np.stack([wins[of == d].sum(axis=0) for d in datasets]),  # [D, M, M]
    }
    return datasets, sums, np.array([(of == d).sum() for d in datasets], dtype=float)


def aggregates_of(
    weights: np.ndarray, sums: dict[str, np.ndarray], tasks: np.ndarray
) -> dict[str, np.ndarray]:
    """Skill, win rate and average rank [R, M] for R weightings of the datasets (how often each is drawn)."""
    n = weights @ tasks  # [R] tasks in each resample
    skill = 1 - np.exp(weights @ sums["log_relative"] / n[:, None])
    rank = weights @ sums["ranks"] / n[:, None]
    share = np.einsum("rd,dij->rij", weights, sums["wins"]) / n[:, None, None]  # [R, M, M]
    m = share.shape[1]
    win_rate = (share.sum(axis=2) - 0.5) / (m - 1) if m > 1 else np.full_like(skill, math.nan)  # i vs i: ½
    return {"skill": skill, "win_rate": win_rate, "rank": rank}


def aggregates(scores: pd.DataFrame, reference: str) -> pd.DataFrame:
    """fev's skill score, win rate and average rank of each model over the tasks of `scores`."""
    datasets, sums, tasks = per_dataset_sums(scores, reference)
    found = aggregates_of(np.ones((1, len(datasets))), sums, tasks)
    return pd.DataFrame({name: values[0] for name, values in found.items()}, index=scores.columns)


def dataset_bootstrap(scores: pd.DataFrame, reference: str) -> dict[str, pd.DataFrame]:
    """Per aggregate, the 2.5% and 97.5% percentiles over resamples of whole datasets (with replacement);
    NaN with one dataset, where no resample differs."""
    datasets, sums, tasks = per_dataset_sums(scores, reference)
    if len(datasets) < 2:
        nan = pd.DataFrame(math.nan, index=scores.columns, columns=["low", "high"])
        return {name: nan for name in ("skill", "win_rate", "rank")}
    picks = np.random.default_rng(SEED).integers(len(datasets), size=(RESAMPLES, len(datasets)))
    weights = np.stack([np.bincount(pick, minlength=len(datasets)) for pick in picks]).astype(float)
    tail = (1 - CONFIDENCE) / 2
    return {
        name: pd.DataFrame(np.quantile(values, [tail, 1 - tail], axis=0).T, scores.columns, ["low", "high"])
        for name, values in aggregates_of(weights, sums, tasks).items()
    }


def wilcoxon_holm(scores: pd.DataFrame) -> pd.DataFrame:
    """Holm-adjusted p of the pairwise Wilcoxon signed-rank tests over tasks (paired by task)."""
    long = scores.reset_index(drop=True).melt(var_name="model", value_name="score")  # one task order
    return scikit_posthocs.posthoc_wilcoxon(long, val_col="score", group_col="model", p_adjust="holm")


def verdict(runs: pd.DataFrame, protocol: str) -> Verdict:
    """The overall table of one protocol's runs (MSE; MAE's skill score alongside)."""
    runs = runs[runs["protocol"] == protocol]
    reference = runs.loc[runs["model"] == REFERENCE, "name"]
    reference = reference.iloc[0] if len(reference) else REFERENCE
    scores, left_models, left_tasks = complete_tasks(task_scores(runs, "mse"), reference)
    table = pd.DataFrame(columns=["skill", "win_rate", "rank"])
    if len(scores):
        table = aggregates(scores, reference)
        for name, interval in dataset_bootstrap(scores, reference).items():
            table[f"{name}_low"], table[f"{name}_high"] = interval["low"], interval["high"]
        mae = task_scores(runs, "mae").loc[scores.index, scores.columns]
        table["mae_skill"] = aggregates(mae, reference)["skill"]
    p_values = wilcoxon_holm(scores) if len(scores) > 1 and scores.shape[1] > 1 else pd.DataFrame()
    return Verdict(protocol, scores, left_models, left_tasks, table.sort_values("rank"), p_values)


def interval(value: float, low: float, high: float, digits: int = 3) -> str:
    text = f"{value:.{digits}f}"
    return text if math.isnan(low) else f"{text} [{low:.{digits}f}, {high:.{digits}f}]"


def verdict_text(v: Verdict) -> str:
    """The overall table in Markdown with what it rests on, the missing-cell rule applied, and the pairwise
    significance table."""
    if v.n_tasks == 0:
        return f"### Overall, protocol `{v.protocol}`\n\nNo task has every listed model finished yet.\n"
    rows = [
        [name, interval(r["skill"], r["skill_low"], r["skill_high"]), f"{r['mae_skill']:.3f}",
         interval(r["win_rate"], r["win_rate_low"], r["win_rate_high"], 2),
         interval(r["rank"], r["rank_low"], r["rank_high"], 2)]
        for name, r in v.table.iterrows()
    ]  # fmt: skip
    datasets = v.datasets
    bootstrap = (
        f"95% percentile bootstrap over datasets ({RESAMPLES} resamples of the {len(datasets)} datasets with "
        "replacement, each with all its horizons: horizons of one dataset share their test data)"
        if len(datasets) > 1
        else "no interval: one dataset, and its horizons share their test data, so they are not resampled"
    )
    lines = [
        f"### Overall, protocol `{v.protocol}`: {v.n_tasks} tasks over {len(datasets)} dataset(s) "
        f"({', '.join(datasets)})\n",
        "Skill score: 1 − geometric mean of test MSE relative to the seasonal naive (clipped to "
        f"[{CLIP[0]}, {CLIP[1]:g}]; 0 = as good as it, higher is better), MAE's alongside; win rate: share "
        "of tasks a model beats each other model on, averaged (ties ½); average rank over tasks (1 = best). "
        f"Brackets: {bootstrap}. A task is a (dataset, horizon); its score the mean over a model's seeds.\n",
        tabulate(
            rows,
            ["model", "skill (MSE)", "skill (MAE)", "win rate", "average rank"],
            tablefmt="github",
            disable_numparse=True,
        ),  # fmt: skip
    ]
    if v.left_out_models or v.left_out_tasks:
        rule = ["\nLeft out, never imputed (a model with no finished task; a task a model has not finished):"]
        rule += [f"- {name}: {why}" for name, why in v.left_out_models.items()]
        rule += [f"- {d} H = {h}: missing {', '.join(who)}" for (d, h), who in v.left_out_tasks.items()]
        lines.append("\n".join(rule))
    lines.append("\n" + significance_text(v))
    return "\n".join(lines) + "\n"


def significance_text(v: Verdict) -> str:
    """Pairwise Wilcoxon–Holm as a table, or why it cannot say anything with this many tasks."""
    floor = 2 / 2**v.n_tasks
    head = f"#### Pairwise Wilcoxon signed-rank over the {v.n_tasks} tasks, Holm-adjusted p\n\n"
    if not v.testable:
        return (
            head + f"Not testable with {v.n_tasks} tasks: the smallest two-sided exact p is "
            f"2/2^{v.n_tasks} = {floor:.3g} ≥ {ALPHA:g}, before Holm's correction. This says nothing about "
            "whether the models differ.\n"
        )
    names = list(v.table.index)
    rows = [[a, *("–" if a == b else f"{v.p_values.loc[a, b]:.3g}" for b in names)] for a in names]
    return (
        head + f"Smallest possible p with {v.n_tasks} tasks: {floor:.3g} (before Holm). A pair with adjusted "
        f"p < {ALPHA:g} differs significantly; p ≥ {ALPHA:g} means the tasks cannot tell them apart.\n\n"
        + tabulate(rows, ["", *names], tablefmt="github", disable_numparse=True)
        + "\n"
    )
