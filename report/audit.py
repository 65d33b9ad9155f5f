"""The audit of DynoNet's README: each claim it makes about ETTh1 at H = 96 as a row, with our number over
the suite's seeds, a verdict (holds / does not hold / not testable) and why; on another dataset, the same
rows ask whether the claims carry over (its MSE and MAE are claimed for ETTh1 only).

The claims are quoted from the README the project was created from (shared/seeds/dynonet-readme-v2.md),
reference data like report/published.csv; every number beside them comes from the suite's stored runs.
"""

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from report.analysis import paired_comparison, pairwise_comparison, set_aside
from report.leaderboard import fmt

CLAIM_SOURCE = "shared/seeds/dynonet-readme-v2.md (leaderboard: ETTh1, H = 96, one seed)"
CLAIMED_MSE, CLAIMED_MAE, CLAIMED_RANK, CLAIMED_FACTOR = 0.386, 0.415, 2, 5
CLAIMED_DATASET = "ETTh1"  # the README's numbers are for this dataset
BASELINES = {"dlinear": "DLinear", "patchtst": "PatchTST", "itransformer": "iTransformer",
             "crossformer": "Crossformer", "tsmixer": "TSMixer"}  # fmt: skip
TRANSFORMERS = ("patchtst", "itransformer", "crossformer")
ALPHA = 0.05


def pending(name: str, cell: pd.Series | None, need: int = 2) -> str | None:
    """Why a cell cannot be judged yet, or None."""
    if cell is None:
        return f"{name} is not in this suite"
    if cell["n"] < need:
        aside = set_aside(cell)  # failed or diverged seeds
        return f"{name} has {cell['n']} finished seed(s) of {cell['seeds']}" + (f", {aside}" if aside else "")
    return None


def provisional(verdict: str, n: int, planned: int) -> str:
    """A verdict from fewer seeds than the suite plans says so: more seeds may still turn it."""
    return verdict if n >= planned else f"{verdict} (provisional: {n} of {planned} seeds)"


def paired_row(
    claim: str, runs: pd.DataFrame, a: str, b: str, if_a_better: str, otherwise: str, planned: int
) -> list:
    """A claim judged by a paired-by-seed test of a − b: `if_a_better` when `a` is significantly lower,
    `otherwise` when not."""
    found = paired_comparison(runs, a, b)
    if found is None or found["n"] < 2:
        n = 0 if found is None else found["n"]
        return [claim, "–", "not testable", f"{n} seed(s) where both {a} and {b} finished"]
    number = f"{a} − {b} = {fmt(found['diff'], found['ci'])} MSE, p = {found['p']:.3g} (n={found['n']})"
    verdict = if_a_better if found["p"] < ALPHA and found["diff"] < 0 else otherwise
    why = "significant at 5%" if found["p"] < ALPHA else "not significant at 5%"
    return [claim, number, provisional(verdict, found["n"], planned), f"{why}, paired by seed"]


def dynonet_audit(
    runs: pd.DataFrame, cells: pd.DataFrame, variants: dict[str, str], params: dict[str, int],
    dataset: str = "ETTh1", horizon: int = 96,
) -> str:  # fmt: skip
    """`variants`: DynoNet entry name → variant; `params`: entry name → trainable parameters at `horizon`."""
    here = cells[(cells["dataset"] == dataset) & (cells["pred_len"] == horizon)]
    runs = runs[(runs["dataset"] == dataset) & (runs["pred_len"] == horizon)]
    by_variant = {variant: name for name, variant in variants.items()}
    name = by_variant.get("published")
    by_model = {r["model"]: r for _, r in here.iterrows() if r["model"] in BASELINES}
    cell = here[here["name"] == name].iloc[0] if name in set(here["name"]) else None
    six = [cell, *(by_model.get(m) for m in BASELINES)]
    lookbacks = {int(c["seq_len"]) for c in six if c is not None}
    at_lookback = f" at L = {min(lookbacks)}" if len(lookbacks) == 1 else ""  # a same-lookback suite says so
    rows = []

    why_not = pending("DynoNet (published)", cell)
    if why_not:
        rows.append([f"MSE {CLAIMED_MSE} / MAE {CLAIMED_MAE}", "–", "not testable", why_not])
    elif dataset != CLAIMED_DATASET:
        ours = f"{fmt(cell['mse_mean'], cell['mse_ci'])} / {fmt(cell['mae_mean'], cell['mae_ci'])}"
        rows.append([f"MSE {CLAIMED_MSE} / MAE {CLAIMED_MAE}", f"{ours} (n={cell['n']})", "not claimed here",
                     f"the README's numbers are for {CLAIMED_DATASET}"])  # fmt: skip
    else:
        low, high = cell["mse_mean"] - cell["mse_pi"], cell["mse_mean"] + cell["mse_pi"]
        inside = low <= CLAIMED_MSE <= high
        rows.append([
            f"MSE {CLAIMED_MSE} / MAE {CLAIMED_MAE}",
            f"{fmt(cell['mse_mean'], cell['mse_ci'])} / {fmt(cell['mae_mean'], cell['mae_ci'])} "
            f"(n={cell['n']})",
            provisional("holds" if inside else "does not hold", cell["n"], cell["seeds"]),
            f"one run of ours falls in [{low:.3f}, {high:.3f}] (95% prediction interval of MSE); "
            "the claim is one seed",
        ])  # fmt: skip

    missing = [
        f"{n} {'' if c is None else set_aside(c)}".rstrip()
        for n, c in zip(["DynoNet", *BASELINES.values()], six, strict=True)
        if c is None or c["n"] == 0
    ]
    if missing:
        rows.append([f"rank {CLAIMED_RANK} of the six models", "–", "not testable",
                     f"no finished run yet: {', '.join(missing)}"])  # fmt: skip
    else:
        order = sorted(six, key=lambda c: c["mse_mean"])
        rank = [c["name"] for c in order].index(name) + 1
        standings = ", ".join(f"{i}. {c['name']} {c['mse_mean']:.3f}" for i, c in enumerate(order, 1))
        fewest = min(six, key=lambda c: c["n"] / c["seeds"])
        verdict = provisional(
            "holds" if rank == CLAIMED_RANK else "does not hold", fewest["n"], fewest["seeds"]
        )
        rows.append([f"rank {CLAIMED_RANK} of the six models", f"rank {rank} by mean MSE", verdict,
                     f"{standings}; each model with its own official recipe"
                     f"{at_lookback or ' and lookback'}"])  # fmt: skip

    dyno_params = params.get(name) if name else None
    if dyno_params is None:
        rows.append(["94K parameters", "–", "not testable", "DynoNet (published) is not in this suite"])
    else:
        rows.append(["94K parameters", f"{dyno_params:,}", "holds" if round(dyno_params / 1000) == 94
                     else "does not hold", "trainable parameters of the built model"])  # fmt: skip
        for model, label in BASELINES.items():
            other = params.get(by_model[model]["name"]) if model in by_model else None
            if other is None or model == "dlinear":
                continue
            factor = other / dyno_params
            kind = "Transformer" if model in TRANSFORMERS else "MLP"
            rows.append([f"{CLAIMED_FACTOR}× fewer parameters than {label} ({kind})", f"{factor:.2f}×",
                         "holds" if factor >= CLAIMED_FACTOR else "does not hold",
                         f"{label} official recipe{at_lookback}: {other:,} parameters"])  # fmt: skip

    planned = int(cell["seeds"]) if cell is not None else 0
    if "no_controller" in by_variant and name:
        claim = "the controller improves the forecast (published vs no_controller)"
        rows.append(
            paired_row(claim, runs, name, by_variant["no_controller"], "holds", "does not hold", planned)
        )
    if "clean" in by_variant and name:
        claim = "its test number owes nothing to training the controller on the validation split (vs clean)"
        rows.append(paired_row(claim, runs, name, by_variant["clean"], "does not hold", "holds", planned))

    if len(lookbacks) > 1:
        rows.append(["DynoNet vs every baseline at the same lookback", "–", "not testable in this suite",
                     f"lookbacks differ ({', '.join(map(str, sorted(lookbacks)))}): see the lookback-512 "
                     "suite's audit"])  # fmt: skip
    elif cell is not None:
        for model, label in BASELINES.items():
            if model not in by_model:
                continue
            found = pairwise_comparison(runs, name, by_model[model]["name"])
            if found.empty or math.isnan(found["p"].iloc[0]):
                rows.append([f"DynoNet vs {label}, both at L = {int(cell['seq_len'])}", "–", "not testable",
                             "fewer than two finished seeds on a side"])  # fmt: skip
                continue
            r = found.iloc[0]
            verdict = ("DynoNet better" if r["diff"] < 0 else f"{label} better") if r["p"] < ALPHA else "tied"
            rows.append([f"DynoNet vs {label}, both at L = {int(cell['seq_len'])}",
                         f"Δ MSE {fmt(r['diff'], r['ci'])}, Welch p = {r['p']:.3g}", verdict,
                         "difference of means, DynoNet − baseline"])  # fmt: skip

    protocol = sorted(cells["protocol"].unique())[0]
    carried = "" if dataset == CLAIMED_DATASET else f" (claimed for {CLAIMED_DATASET}: do they carry over?)"
    return (
        f"## {dataset}, H = {horizon}, protocol `{protocol}`{carried}\n\n"
        + tabulate(rows, ["claim", "ours", "verdict", "why"], tablefmt="github", disable_numparse=True)
        + "\n"
    )


def audit_page(sections: list[str]) -> str:
    """The audit file: where the claims come from and how our numbers are made, then one section per
    dataset."""
    return (
        "# DynoNet's claims, audited\n\n"
        f"Claims quoted from {CLAIM_SOURCE}.\n"
        "Our numbers: mean ± 95% t-CI over the suite's seeds, test MSE / MAE on the normalised scale;\n"
        "paired tests match runs by seed.\n\n" + "\n".join(sections)
    )
