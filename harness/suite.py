"""Suites: a YAML file validated in full before anything runs, then expanded into one RunSpec per
(model, dataset, horizon, seed).

Settings are layered, later over earlier: suite `train` defaults → preset → preset `by_horizon[H]` →
model entry → entry `by_horizon[H]`; a preset that `extends` another brings that one's two layers first.
An entry's `preset: dlinear` is each dataset's own recipe, `dlinear-<dataset>`.
Every error names the file and the key path and says what was expected.
"""

from __future__ import annotations

import json
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness import __version__, registry, shipped
from harness.datasets import BUNDLED, DatasetRef, Table, load_table, resolve
from harness.errors import InputError
from harness.protocol import check_fits, split_bounds
from harness.spec import RunSpec, TrainConfig
from harness.train import strategy_for

SUITE_DIR = shipped("suites")  # the suites that ship with dynobench (`dynobench suites` lists them)
PRESET_DIR = SUITE_DIR / "presets"
TOP_KEYS = {
    "name": str,
    "protocol": str,
    "description": str,
    "datasets": list,
    "horizons": list,
    "seeds": list,
    "seeds_by_dataset": dict,  # a dataset's own seeds (fewer where its runs cost more), else `seeds`
    "train": dict,
    "models": list,
    "reuse": list,  # suites (by name, their stores beside this one's) whose identical runs stand in for ours
}
ENTRY_KEYS = {
    "name": str,
    "model": str,
    "preset": str,
    "seeds": list,  # this entry's own seeds (one for a deterministic naive reference), else the suite's
    "seq_len": int,
    "params": dict,
    "train": dict,
    "by_horizon": dict,
}
PRESET_KEYS = {
    "extends": str,  # another preset: this one is it with the settings below layered over it
    "model": str,
    "seq_len": int,
    "params": dict,
    "train": dict,
    "by_horizon": dict,
    "description": str,
    "source": str,
}
HORIZON_KEYS = {"seq_len": int, "params": dict, "train": dict}
DATASET_KEYS = {"name": str, "path": str, "sha256": str}
TRAIN_TYPES = typing.get_type_hints(TrainConfig)
FILE_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"  # a suite's or a preset's name: a file or folder, never a path
# An entry's name or a protocol label, as tables (Markdown) and file names show it: e.g. PatchTST/42
LABEL = r"\w[\w .\-/()+=]*"
LABEL_RULE = "letters, digits, spaces and _ . - / ( ) + =, starting with a letter, digit or _"
MAX_SEED = 2**32 - 1  # numpy's largest (np.random.seed refuses any other); torch's and python's take these


@dataclass
class Suite:
    name: str
    protocol: str
    path: Path
    runs: list[RunSpec]  # one per (entry, dataset, horizon, seed); two entries may share a spec key
    param_counts: dict[str, int]  # spec key → trainable parameters of the built model
    reuse: tuple[str, ...] = ()  # suites whose runs, identical but for the protocol label, count as ours

    def default_store(self) -> Path:
        return Path("results") / self.name / "runs.sqlite"


def type_name(t: Any) -> str:
    return {dict: "mapping", list: "list"}.get(t, getattr(t, "__name__", str(t)))


def check_value(value: Any, expected: Any, where: str) -> Any:
    """Return `value` as type `expected` (an int is a valid float), or raise InputError."""
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
    }.get(expected, lambda v: isinstance(v, expected))
    if not ok(value):
        if expected in (int, float) and isinstance(value, str) and _is_number(value):
            raise InputError(
                f"{where}: expected a number, got the text {value!r} (YAML reads 1e-3 as text: "
                "write 1.0e-3 or 0.001)"
            )
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        hint = " (is this a suite YAML file?)" if where == "suite" else ""
        raise InputError(f"{where}: expected {type_name(expected)}, got {shown}{hint}")
    return float(value) if expected is float else value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_label(text: str, where: str) -> None:
    """An entry's name or a protocol label: shown in Markdown tables and file names, so one plain line."""
    if not re.fullmatch(LABEL, text) or text != text.rstrip():
        raise InputError(f"{where}: {text!r} must be {LABEL_RULE} (it labels tables and file names)")


def check_mapping(mapping: Any, schema: dict[str, Any], where: str, required: tuple[str, ...] = ()) -> dict:
    """Check keys (unknown or missing) and value types of a mapping against `schema`."""
    check_value(mapping, dict, where or "suite")
    prefix = f"{where}." if where else ""
    for key in mapping:
        if key not in schema:
            raise InputError(f"{prefix}{key}: unknown key (expected one of: {', '.join(schema) or 'none'})")
    for key in required:
        if key not in mapping:
            raise InputError(f"{prefix}{key}: missing (required)")
    return {key: check_value(value, schema[key], f"{prefix}{key}") for key, value in mapping.items()}


def check_params(model: str, params: dict, where: str) -> dict:
    """Check model hyperparameters against the constructor's keywords and annotations."""
    info = registry.get(model)
    hparams = info.hparams()
    hints = typing.get_type_hints(info.cls.__init__)
    for key in params:
        if key not in hparams:
            raise InputError(
                f"{where}.{key}: unknown parameter for {model} (known: {', '.join(hparams) or 'none'})"
            )
    return {key: check_value(v, hints.get(key, object), f"{where}.{key}") for key, v in params.items()}


def check_train(train: dict, where: str) -> dict:
    return check_mapping(train, TRAIN_TYPES, where)


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error (the safe loader keeps the last
    one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    problem=f"key {key!r} given twice (first at line {seen[key]})",
                    problem_mark=key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text()
    except OSError as e:
        raise InputError(f"{path}: cannot read {what} ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise InputError(
            f"{path}: not a {what} (byte {e.start} is not UTF-8 text: a {what} is YAML)"
        ) from None
    try:
        return yaml.load(text, UniqueKeyLoader)
    except yaml.reader.ReaderError as e:  # a character YAML does not allow (NUL, other control characters)
        line, char = text.count("\n", 0, e.position) + 1, chr(e.character)
        raise InputError(
            f"{path}: not valid YAML at line {line} (the character {char!r} is not allowed)"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise InputError(f"{path}: not valid YAML{at} ({problem})") from None


def presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_listing() -> str:
    """The presets by model, for an error message: `dlinear (etth1, etth2), mean (etth1)`."""
    by_model: dict[str, list[str]] = {}
    for name in presets():
        model, _, dataset = name.rpartition("-") if "-" in name else (name, "", "")
        by_model.setdefault(model, []).append(dataset)
    return ", ".join(f"{m} ({', '.join(d for d in ds if d)})" if any(ds) else m for m, ds in by_model.items())


def check_preset_name(name: str, where: str) -> None:
    if not re.fullmatch(FILE_NAME, name):
        raise InputError(
            f"{where}: {name!r} is not a preset's name (a name, not a path: letters, digits, _ . -); presets "
            f"by model: {preset_listing() or 'none'}"
        )


def preset_file(name: str, dataset: str, where: str) -> str:
    """The preset an entry names for one dataset: `name` itself, or the model's recipe for that dataset,
    `name-<dataset>` (so `preset: dlinear` is each dataset's own DLinear recipe)."""
    check_preset_name(name, where)
    for candidate in (name, f"{name}-{dataset.lower()}"):
        if (PRESET_DIR / f"{candidate}.yaml").is_file():
            return candidate
    raise InputError(
        f"{where}: unknown preset '{name}' (nor '{name}-{dataset.lower()}' for dataset {dataset}); "
        f"presets by model and dataset: {preset_listing() or 'none'}"
    )


def preset_layers(name: str, key_path: str, chain: tuple[str, ...] = ()) -> list[tuple[dict, str]]:
    """A preset's settings layers, from the recipe it `extends` (recursively) to its own file, each checked
    and named by `key_path`, e.g. models[0].preset(dlinear-etth2).extends(dlinear-etth1)."""
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        where = key_path.rsplit("(", 1)[0]
        raise InputError(f"{where}: unknown preset '{name}' (presets: {preset_listing() or 'none'})")
    if name in chain:
        raise InputError(f"{key_path}: extends itself ({' → '.join((*chain, name))})")
    layer = check_layer(read_yaml(path, "preset"), PRESET_KEYS, key_path)
    if "extends" not in layer:
        if "model" not in layer:
            raise InputError(f"{key_path}.model: missing (required unless the preset extends another)")
        return [(layer, key_path)]
    base = layer["extends"]
    check_preset_name(base, f"{key_path}.extends")
    layers = preset_layers(base, f"{key_path}.extends({base})", (*chain, name))
    model = layers[0][0]["model"]
    if layer.get("model", model) != model:
        raise InputError(f"{key_path}.model: {layer['model']!r}, but it extends {base}, a {model} recipe")
    return [*layers, (layer, key_path)]


def preset_settings(name: str, horizon: int) -> tuple[str, int, dict, TrainConfig]:
    """Model key, lookback, hyperparameters and training config a preset gives at one horizon."""
    at = f"preset({name})"
    chain = preset_layers(name, at)
    model = chain[0][0]["model"]
    return (model, *merged_settings(model, at_horizon(chain, horizon), {}, at))


def horizon_layer(layer: dict, at: str, horizon: int) -> tuple[dict, str]:
    return layer["by_horizon"].get(horizon, {}), f"{at}.by_horizon.{horizon}"


def at_horizon(layers: list[tuple[dict, str]], horizon: int) -> list[tuple[dict, str]]:
    """Each layer followed by its own `by_horizon[horizon]`: the order settings are merged in."""
    return [pair for layer, at in layers for pair in ((layer, at), horizon_layer(layer, at, horizon))]


def check_layer(layer: Any, schema: dict, where: str, required: tuple[str, ...] = ()) -> dict:
    """Check one settings layer (model entry or preset) including its `train` and `by_horizon` parts."""
    layer = check_mapping(layer, schema, where, required)
    if "train" in layer:
        layer["train"] = check_train(layer["train"], f"{where}.train")
    by_horizon = {}
    for horizon, sub in layer.get("by_horizon", {}).items():
        at = f"{where}.by_horizon.{horizon}"
        check_value(horizon, int, at)
        sub = check_mapping(sub, HORIZON_KEYS, at)
        if "train" in sub:
            sub["train"] = check_train(sub["train"], f"{at}.train")
        by_horizon[horizon] = sub
    layer["by_horizon"] = by_horizon
    return layer


def check_grid_list(suite: dict, key: str, item_type: Any, where: str = "") -> list:
    values = suite[key]
    at = f"{where}.{key}" if where else key
    if not values:
        raise InputError(f"{at}: empty list: the grid has no runs")
    for i, value in enumerate(values):
        if item_type is not None:
            check_value(value, item_type, f"{at}[{i}]")
            if values.index(value) != i:
                raise InputError(f"{at}[{i}]: duplicate value {value!r}")
    return values


def check_seeds(container: dict, key: str, where: str = "") -> list:
    seeds = check_grid_list(container, key, int, where)
    for i, seed in enumerate(seeds):
        if not 0 <= seed <= MAX_SEED:
            at = f"{where}.{key}" if where else key
            raise InputError(f"{at}[{i}]: seed {seed} is outside 0..{MAX_SEED} (2**32 - 1, numpy's range)")
    return seeds


def resolve_datasets(entries: list, base: Path) -> list[DatasetRef]:
    refs = []
    for i, entry in enumerate(entries):
        where = f"datasets[{i}]"
        if isinstance(entry, dict):
            entry = check_mapping(entry, DATASET_KEYS, where, ("name", "path"))
            if entry["name"] in BUNDLED:
                raise InputError(
                    f"{where}.name: '{entry['name']}' is a bundled dataset; give yours another name"
                )
            entry = {**entry, "path": str(base / Path(entry["path"]).expanduser())}
        elif not isinstance(entry, str):
            raise InputError(f"{where}: expected a dataset name or {{name, path}}, got {entry!r}")
        refs.append(resolve(entry, where))
        if [r.name for r in refs].count(refs[-1].name) > 1:
            raise InputError(f"{where}: duplicate dataset '{refs[-1].name}'")
    return refs


def shipped_suites() -> list[Path]:
    return sorted(SUITE_DIR.glob("*.yaml"))


def find_suite(name_or_path: str | Path) -> Path:
    """A suite file, or the name of a shipped suite (`smoke`, `etth1`) when no such file exists here."""
    path = Path(name_or_path)
    if path.exists() or path.parent != Path("."):
        return path
    bundled = SUITE_DIR / (path.name if path.suffix == ".yaml" else f"{path.name}.yaml")
    return bundled if bundled.is_file() else path


def load_suite(path: str | Path) -> Suite:
    """Read, validate and expand a suite (a file, or a shipped suite's name); raise InputError (prefixed
    with the file name) on bad input."""
    path = find_suite(path)
    if not path.exists() and path.parent == Path("."):  # a bare name: perhaps a misspelt shipped suite
        names = ", ".join(p.stem for p in shipped_suites())
        raise InputError(f"{path}: no such suite file (or a shipped suite: {names})")
    try:
        return _expand(path, read_yaml(path, "suite"))
    except InputError as e:
        message = str(e)
        raise InputError(message if message.startswith(str(path)) else f"{path}: {message}") from None


def _expand(path: Path, raw: Any) -> Suite:
    suite = check_mapping(raw, TOP_KEYS, "", ("name", "protocol", "datasets", "horizons", "seeds", "models"))
    if not re.fullmatch(FILE_NAME, suite["name"]):
        raise InputError(
            f"name: {suite['name']!r} must be letters, digits, '_', '.' or '-', not starting with '.' or '-' "
            "(it names a folder under results/)"
        )
    check_label(suite["protocol"], "protocol")
    horizons = check_grid_list(suite, "horizons", int)
    seeds = check_seeds(suite, "seeds")
    check_grid_list(suite, "datasets", None)
    check_grid_list(suite, "models", None)
    reuse = tuple(check_grid_list(suite, "reuse", str)) if "reuse" in suite else ()
    for i, name in enumerate(reuse):
        if name == suite["name"] or not re.fullmatch(FILE_NAME, name):
            raise InputError(f"reuse[{i}]: {name!r} must be the name of another suite")
        if (
            not any((folder / f"{name}.yaml").is_file() for folder in (path.parent, SUITE_DIR))
            and not (Path("results") / name).is_dir()
        ):
            raise InputError(
                f"reuse[{i}]: no suite '{name}' ({name}.yaml neither beside this suite nor shipped, and no "
                f"results/{name}/ here)"
            )
    if any(h < 1 for h in horizons):
        raise InputError("horizons: every horizon must be at least 1")
    defaults = check_train(suite.get("train", {}), "train")
    datasets = resolve_datasets(suite["datasets"], path.parent)
    seeds_of = {ref.name: seeds for ref in datasets}
    for name in suite.get("seeds_by_dataset", {}):
        if name not in seeds_of:
            raise InputError(
                f"seeds_by_dataset.{name}: not one of the suite's datasets ({', '.join(seeds_of)})"
            )
        check_value(suite["seeds_by_dataset"][name], list, f"seeds_by_dataset.{name}")
        seeds_of[name] = check_seeds(suite["seeds_by_dataset"], name, "seeds_by_dataset")
    entries = [
        check_layer(entry, ENTRY_KEYS, f"models[{i}]", ("name",)) for i, entry in enumerate(suite["models"])
    ]
    names: dict[str, int] = {}
    for i, entry in enumerate(entries):
        check_label(entry["name"], f"models[{i}].name")
        if entry["name"] in names:
            raise InputError(
                f"models[{i}].name: duplicate name '{entry['name']}' (also models[{names[entry['name']]}])"
            )
        names[entry["name"]] = i

    runs: list[RunSpec] = []
    param_counts: dict[str, int] = {}
    built: dict[str, int] = {}  # model configuration → parameter count, each built once
    for i, entry in enumerate(entries):
        where = f"models[{i}]"
        for ref in datasets:
            chain = []
            if "preset" in entry:
                name = preset_file(entry["preset"], ref.name, f"{where}.preset")
                chain = preset_layers(name, f"{where}.preset({name})")
            model = entry.get("model", chain[0][0]["model"] if chain else None)
            if model is None:
                raise InputError(f"{where}: give 'model' (a registry key) or 'preset'")
            if model not in registry.models():
                raise InputError(
                    f"{where}.model: unknown model '{model}' (registered: {', '.join(registry.models())})"
                )
            table = load_table(ref)
            n_rows, n_channels = table.values.shape
            check_no_constant_column(table, ref, n_rows)
            for horizon in horizons:
                layers = at_horizon([*chain, (entry, where)], horizon)
                seq_len, params, config = merged_settings(model, layers, defaults, where)
                if suite["protocol"] == OFFICIAL:
                    check_official(entry, name if chain else None, seq_len, params, config, horizon, where)
                check_fits(
                    ref.split, n_rows, seq_len, horizon, f"{where} ({entry['name']}, H={horizon}, {ref.name})"
                )
                n_params = _param_count(built, model, params, seq_len, horizon, n_channels, f"{where}.params")
                for seed in check_seeds(entry, "seeds", where) if "seeds" in entry else seeds_of[ref.name]:
                    spec = RunSpec(
                        name=entry["name"], model=model, params=params, dataset=ref.name,
                        dataset_sha256=ref.sha256, dataset_path=ref.path, split=ref.split, seq_len=seq_len,
                        pred_len=horizon, seed=seed, train=config, protocol=suite["protocol"],
                        harness_version=__version__, model_revision=registry.get(model).revision,
                    )  # fmt: skip
                    runs.append(spec)
                    param_counts[spec.key] = n_params
    return Suite(suite["name"], suite["protocol"], path, runs, param_counts, reuse)


OFFICIAL = "official"  # the protocol label that promises each model's own recipe, as its preset gives it
RECIPE_VARIANTS = ("variant",)  # hyperparameters that choose a variant of a model and leave its recipe


def check_official(
    entry: dict, preset: str | None, seq_len: int, params: dict, config: TrainConfig, horizon: int, where: str
) -> None:
    """A suite labelled `official` runs each model's recipe as its preset gives it: no lookback, training
    setting or hyperparameter of its own (bar a variant choice), so no shortened run carries the label."""
    if preset is None:
        raise InputError(f"{where}: protocol '{OFFICIAL}' needs a preset (the model's recipe) for each entry")
    _, recipe_seq_len, recipe_params, recipe_config = preset_settings(preset, horizon)
    changed = [("seq_len", seq_len, recipe_seq_len)] if seq_len != recipe_seq_len else []
    changed += [
        (f"train.{key}", value, getattr(recipe_config, key))
        for key, value in vars(config).items()
        if value != getattr(recipe_config, key)
    ]
    changed += [
        (f"params.{key}", params.get(key), recipe_params.get(key))
        for key in sorted(set(params) | set(recipe_params))
        if key not in RECIPE_VARIANTS and params.get(key) != recipe_params.get(key)
    ]
    if changed:
        key, ours, theirs = changed[0]
        raise InputError(
            f"{where} ({entry['name']}, H={horizon}): protocol '{OFFICIAL}' but {key} is {ours!r}, the "
            f"recipe's is {theirs!r}; give the suite a protocol of its own (e.g. official-short)"
        )


def check_no_constant_column(table: Table, ref: DatasetRef, n_rows: int) -> None:
    """A channel constant over the training rows has no scale: its normalised errors would be raw ones, so
    the dataset's MSE would not be comparable. Refused, naming the column."""
    train_end = split_bounds(ref.split, n_rows, 0)["train"][1]
    if train_end < 2:  # no scale at all, whatever the lookback: too few rows, before any column is blamed
        raise InputError(
            f"{ref.path}: {n_rows} data row{'s' * (n_rows != 1)}, too few rows to split into training, "
            "validation and test rows (70/10/20) with a lookback and horizon each"
        )
    constant = [c for c, s in zip(table.columns, table.values[:train_end].std(axis=0), strict=True) if s == 0]
    if constant:
        raise InputError(
            f"{ref.path}: column {constant[0]!r} is constant over the training rows, so it has no scale and "
            "its errors would not be comparable; drop the column"
        )


def merged_settings(
    model: str, layers: list[tuple[dict, str]], defaults: dict, where: str
) -> tuple[int, dict, TrainConfig]:
    """Lookback, hyperparameters and training config of one cell: later layers override earlier ones."""
    seq_len = next((layer["seq_len"] for layer, _ in reversed(layers) if "seq_len" in layer), None)
    if seq_len is None:
        raise InputError(f"{where}.seq_len: missing (required unless the preset sets it)")
    if seq_len < 1:
        raise InputError(f"{where}.seq_len: must be at least 1, got {seq_len}")
    registry.get(model)  # imports the model packages, which register their strategies
    allowed = strategy_for(model).OPTIONS
    params, train, options, written_at = {}, {}, {}, {}
    for layer, at in [({"train": defaults}, ""), *layers]:
        params.update(check_params(model, layer.get("params", {}), f"{at}.params"))
        layer_train = dict(layer.get("train", {}))
        options_at = f"{at}.train.options" if at else "train.options"
        options.update(check_mapping(layer_train.pop("options", {}), allowed, options_at))
        train.update(layer_train)
        written_at.update(dict.fromkeys(layer_train, f"{at}.train" if at else "train"))
    train["options"] = options
    missing = sorted(set(allowed) - set(options))
    if missing:
        raise InputError(f"{where}.train.options.{missing[0]}: missing (required by {model}'s training)")
    config = TrainConfig(**train)
    for key, problem in config.problems():  # named where the user wrote it (suite, preset or entry)
        raise InputError(f"{written_at.get(key, f'{where}.train')}.{key}: {problem}")
    return seq_len, params, config


def _param_count(
    cache: dict, model: str, params: dict, seq_len: int, pred_len: int, n_channels: int, where: str
) -> int:
    """Build the model once per distinct configuration: a constructor's refusal is bad input, found now."""
    key = json.dumps([model, params, seq_len, pred_len, n_channels], sort_keys=True)
    if key not in cache:
        try:
            cache[key] = registry.count_params(registry.build(model, seq_len, pred_len, n_channels, **params))
        except (ValueError, TypeError) as e:
            raise InputError(
                f"{where}: {model} rejects these settings at L={seq_len}, H={pred_len}: {e}"
            ) from None
    return cache[key]
