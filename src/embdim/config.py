# SPDX-License-Identifier: MIT
"""Sweep configuration: coercion, schema validation, defaults and cross-field checks.

The Snakefile calls :func:`prepare` once at parse time, so every configuration error is reported
before any job starts, as a :class:`~embdim.errors.ConfigError` that names the bad key.
"""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError
from .estimators import ESTIMATORS as _ESTIMATORS
from .estimators import FIXED_K

# The estimator names and fixed ks come from the one registry (embdim.estimators.REGISTRY).
ESTIMATORS = _ESTIMATORS
# TwoNN (Facco et al. 2017, doi:10.1038/s41598-017-11873-y) uses the two nearest neighbours only.
TWONN_K = FIXED_K["twonn"]
# A Hub repo id: one "owner/name" pair of the characters the Hub allows.
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
# Local run directories produced by the demo rule `train_demo_model`: results/demo/<run>.
DEMO_RUN = re.compile(r"^results/demo/([A-Za-z0-9._-]+)$")
_INT = re.compile(r"^[+-]?[0-9]+$")
_FLOAT = re.compile(r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$")


@dataclass
class Sweep:
    """The expanded sweep: what the workflow schedules.

    Attributes
    ----------
    models : dict
        Filesystem-safe slug -> model as given in the config (Hub id or local directory).
    steps : list of int
        Requested training steps, sorted, without duplicates.
    estimators : list of EstimatorSpec
        Name, k and MLE convention of each estimator, in config order; TwoNN's k is 2 and its
        convention ``None``.
    tensors : list of str
        Tensors to sweep (``tensors``, or ``[tensor]`` when the single key is given).
    config : dict
        The coerced, validated config with defaults filled in.
    """

    models: dict[str, str]
    steps: list[int]
    estimators: list
    tensors: list[str] = field(default_factory=lambda: ["embed_in"])
    config: dict = field(default_factory=dict)

    def measure_args(self) -> str:
        """`embdim measure` flags for the configured estimators and settings (no paths).

        The k-curve takes the convention of the first MLE estimator (the headline one).
        """
        cfg = self.config
        mle = [s for s in self.estimators if s.name == "mle"]
        args = [f"--estimator {s.full}" for s in self.estimators]
        if mle:
            args += [f"--normalization {mle[0].normalization}", f"--aggregate {mle[0].aggregate}"]
        args += [f"--k-curve {cfg.get('k_curve', 32) if mle else 0}",
                 f"--bootstrap {cfg.get('bootstrap', 200)}", f"--seed {cfg.get('seed', 0)}"]
        if cfg.get("sample") is not None:
            args.append(f"--sample {cfg['sample']}")
        if not cfg.get("geometry", True):
            args.append("--no-geometry")
        return " ".join(args)

    def uses_tokenizer(self, slug: str) -> bool:
        """Whether measure_checkpoint keeps only the tokenizer's rows (``rows: tokenizer``)."""
        return self.config.get("rows", "all") == "tokenizer"

    def tokens_enabled(self, slug: str) -> bool:
        """Whether the per-token view (rule tabulate_tokens) runs for this model: ``tokens``
        true; or auto with ``rows: tokenizer`` or a local run that has a tokenizer."""
        mode = self.config.get("tokens", "auto")
        if mode == "auto":
            return self.uses_tokenizer(slug) or has_local_tokenizer(self.models[slug])
        return bool(mode)

    def demo_marker(self, slug: str) -> str | None:
        """The ``train.json`` marker a demo run directory depends on, or ``None``."""
        m = DEMO_RUN.match(os.path.normpath(self.models[slug]))
        return f"results/demo/{m.group(1)}/train.json" if m else None


def load_schema(path: str | os.PathLike) -> dict:
    """Read the YAML JSON-schema of the workflow config."""
    with open(path) as f:
        return yaml.safe_load(f)


def is_local_model(model: str) -> bool:
    """A model is a local run directory if it exists as one or cannot be a Hub repo id."""
    return os.path.isdir(model) or not HUB_ID.match(model) or model.startswith(("./", "../"))


def has_local_tokenizer(model: str) -> bool:
    """A local run with a ``tokenizer.json`` (in the run directory or a ``step<N>/``), or a demo
    run (its training writes one)."""
    if not is_local_model(model):
        return False
    if DEMO_RUN.match(os.path.normpath(model)) or os.path.isfile(os.path.join(model, "tokenizer.json")):
        return True
    try:
        return any(parse_step(e.name) is not None and os.path.isfile(os.path.join(e.path, "tokenizer.json"))
                   for e in os.scandir(model))
    except OSError:
        return False


def model_slug(model: str) -> str:
    """Filesystem-safe wildcard value for a model.

    ``EleutherAI/pythia-14m`` -> ``EleutherAI--pythia-14m``; a local directory ``results/demo/adam``
    -> ``local--results-demo-adam`` (path separators become ``-``, other odd characters ``_``).
    """
    if not is_local_model(model):
        return model.replace("/", "--")
    parts = [p for p in os.path.normpath(model).split(os.sep) if p not in ("", ".")]
    safe = "-".join(re.sub(r"[^A-Za-z0-9._-]", "_", p) for p in parts).replace("..", "up")
    return "local--" + (safe or "root")


def model_label(model: str) -> str:
    """Short label for plots: the repo name (``pythia-14m``) or the directory's basename."""
    return os.path.basename(os.path.normpath(model)) or model


def parse_step(name: str) -> int | None:
    """Training step of a branch / directory name under the default patterns
    (:data:`embdim.revnames.DEFAULT_PATTERNS`): ``step1000`` -> 1000, ``checkpoint-500`` -> 500;
    anything else (``main``, ``step01``, ``step-1``) -> None."""
    from .revnames import parse_revision

    parsed = parse_revision(name)
    return parsed.step if parsed else None


def expand_steps(steps: list) -> list[int]:
    """Expand ints and ``{start, stop, every}`` ranges (stop inclusive) into sorted unique steps."""
    out: set[int] = set()
    for item in steps:
        if isinstance(item, dict):
            out.update(range(item["start"], item["stop"] + 1, item["every"]))
        else:
            out.add(int(item))
    return sorted(out)


def coerce(value, schema: dict, root: dict | None = None):
    """Turn strings into the ints/numbers/booleans the schema expects, recursively.

    Snakemake parses ``--config key=value`` with YAML's BaseLoader, so ``steps='[1000,2000]'``
    arrives as ``['1000', '2000']``; without this the contract's own override would fail.
    """
    root = root if root is not None else schema
    if "$ref" in schema:  # only local refs: "#/$defs/name"
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
    for key in ("oneOf", "anyOf"):
        if key in schema:
            for alt in schema[key]:  # first alternative whose base type fits wins
                if _fits(value, alt, root):
                    return coerce(value, alt, root)
            return value
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if isinstance(value, str):
        if "integer" in types and _INT.match(value):
            return int(value)
        if "number" in types and _FLOAT.match(value):
            return float(value)
        if "boolean" in types and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if "null" in types and value.lower() in ("null", "~", ""):
            return None
        return value
    if isinstance(value, dict):
        props = schema.get("properties", {})
        return {k: coerce(v, props[k], root) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce(v, schema["items"], root) for v in value]
    return value


def _fits(value, schema: dict, root: dict) -> bool:
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    t = schema.get("type")
    if t == "object":
        return isinstance(value, dict)
    if t == "array":
        return isinstance(value, list)
    if t == "integer":
        return isinstance(value, int) or (isinstance(value, str) and bool(_INT.match(value)))
    return True


def fill_defaults(value: dict, schema: dict) -> dict:
    """Add each missing property's ``default`` (recursively into objects that are present)."""
    out = dict(value)
    for key, sub in schema.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if isinstance(out.get(key), dict) and sub.get("type") == "object":
            out[key] = fill_defaults(out[key], sub)
    return out


def _key_path(path) -> str:
    text = ""
    for p in path:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text or "<top level>"


def validate(config: dict, schema: dict) -> None:
    """Check ``config`` against the JSON schema; the error names the offending key.

    Raises
    ------
    ConfigError
        ``config key 'steps[1].stop': 'x' is not of type 'integer'`` and similar.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.path), list(map(str, e.path))))
    if not errors:
        return
    err = jsonschema.exceptions.best_match(errors)
    where = _key_path(err.absolute_path)
    if err.validator == "additionalProperties":  # name the unknown key itself
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        if extra:
            where = _key_path([*err.absolute_path, extra[0]])
            raise ConfigError(f"config key {where!r} is not allowed (known keys: "
                              f"{', '.join(sorted(err.schema.get('properties', {})))})")
    raise ConfigError(f"config key {where!r}: {err.message}")


def check(config: dict) -> Sweep:
    """Cross-field checks the schema cannot express; returns the expanded :class:`Sweep`.

    Raises
    ------
    ConfigError
        Empty or duplicate models, slug collisions, an untrained demo run that ``demo.runs``
        does not list, bad step ranges, duplicate estimators, a TwoNN ``k`` other than 2,
        ``gpu`` > 0 with ``device: cpu``, ``rows: tokenizer`` or ``tokens: true`` with a local
        run that has no tokenizer.json, a ``revision_pattern`` that does not compile or lacks
        its ``step`` group.
    """
    models: dict[str, str] = {}
    for i, model in enumerate(config["models"]):
        slug = model_slug(model)
        if slug in models:
            raise ConfigError(f"config key 'models[{i}]': {model!r} maps to the same result "
                              f"directory {slug!r} as {models[slug]!r}")
        models[slug] = model
        run = DEMO_RUN.match(os.path.normpath(model))
        runs = (config.get("demo") or {}).get("runs", ["adam", "coupled_adam"])
        if run and run.group(1) not in runs and not os.path.exists(f"{model}/train.json"):
            raise ConfigError(f"config key 'models[{i}]': {model!r} is a demo run that is not "
                              f"trained yet, and 'demo.runs' ({', '.join(runs)}) does not list "
                              f"{run.group(1)!r}")
    for i, item in enumerate(config["steps"]):
        if isinstance(item, dict) and item["start"] > item["stop"]:
            raise ConfigError(f"config key 'steps[{i}]': start {item['start']} is after stop {item['stop']}")
    steps = expand_steps(config["steps"])
    estimators = _check_estimators(config["estimators"])
    tensors = [config["tensor"]] if config.get("tensor") else list(config["tensors"])
    if config.get("sample") is not None:
        for spec in estimators:
            if config["sample"] < spec.k + 1 or config["sample"] < config.get("k_curve", 0) + 1:
                raise ConfigError(f"config key 'sample': {config['sample']} rows cannot give "
                                  f"{max(spec.k, config.get('k_curve', 0))} neighbours")
    needs = ("rows" if config.get("rows") == "tokenizer" else
             "tokens" if config.get("tokens") is True else None)
    for i, model in enumerate(config["models"]):
        if needs and is_local_model(model) and not has_local_tokenizer(model):
            raise ConfigError(f"config key 'models[{i}]': {needs!r} needs a tokenizer, but the local "
                              f"run {model!r} has no tokenizer.json (in it or a step<N>/); "
                              + ("set rows: all" if needs == "rows" else "set tokens: auto or false"))
    if config.get("gpu", 0) > 0 and config.get("device") == "cpu":
        raise ConfigError("config key 'gpu': GPUs requested but 'device' is 'cpu'")
    if config.get("revision_pattern") is not None:
        from .revnames import compile_patterns
        try:
            compile_patterns(config["revision_pattern"])
        except ConfigError as e:
            raise ConfigError(f"config key 'revision_pattern': {e}") from e
    return Sweep(models=models, steps=steps, estimators=estimators, tensors=tensors, config=config)


def _check_estimators(items: list[dict]) -> list:
    """``estimators`` entries -> EstimatorSpec list (TwoNN's k fixed, MLE needs k, no repeats).

    Raises
    ------
    ConfigError
        Naming the entry: k missing or not allowed, a convention on TwoNN, a repeat.
    """
    from .estimators import EstimatorSpec
    from .estimators._mle import check_convention
    from .errors import InputError

    out = []
    for i, est in enumerate(items):
        name, k = est["name"], est.get("k")
        norm, agg = est.get("normalization"), est.get("aggregate")
        if name in FIXED_K:
            if k not in (None, FIXED_K[name]):
                raise ConfigError(f"config key 'estimators[{i}].k': {name} always uses the "
                                  f"{FIXED_K[name]} nearest neighbours; omit k or set it to {FIXED_K[name]}")
            if norm or agg:
                raise ConfigError(f"config key 'estimators[{i}]': {name} has no normalization "
                                  "or aggregate")
            spec = EstimatorSpec(name, FIXED_K[name])
        elif k is None:
            raise ConfigError(f"config key 'estimators[{i}].k': {name} needs k")
        else:
            spec = EstimatorSpec(name, k, norm or "k-1", agg or "harmonic")
            try:
                check_convention(k, spec.normalization, spec.aggregate)
            except InputError as e:
                raise ConfigError(f"config key 'estimators[{i}]': {e}") from e
        if spec in out:
            raise ConfigError(f"config key 'estimators[{i}]': {spec.full} is listed twice")
        out.append(spec)
    return out


def prepare(config: dict, schema_path: str | os.PathLike) -> Sweep:
    """Coerce, fill defaults, validate and cross-check a raw Snakemake ``config``.

    Raises
    ------
    ConfigError
        Whatever is wrong first, naming the key.
    """
    schema = load_schema(schema_path)
    cfg = fill_defaults(coerce(dict(config), schema), schema)
    validate(cfg, schema)
    return check(cfg)


def load(path: str | os.PathLike, schema_path: str | os.PathLike, overrides: dict | None = None) -> Sweep:
    """Read a config file (plus overrides, as ``--config`` would apply them) and :func:`prepare` it."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read config: {e}") from e
    raw.update(overrides or {})
    return prepare(raw, schema_path)


def estimate_mem_mb(size_mb: float, attempt: int = 1) -> int:
    """Memory for one estimate/geometry job from the size of its fp16/bf16 embedding file.

    The matrix is widened to float32 (2x) and copied once for de-duplication (2x more); the
    kNN lists are small (n x k). 1 GiB covers the interpreter, torch and faiss. Each retry
    asks for more.
    """
    return int((1024 + 8 * size_mb) * attempt)


def estimate_runtime_min(size_mb: float, attempt: int = 1) -> int:
    """Wall-clock minutes for one estimate job: exact kNN costs ~ n^2 d and n (vocabulary) is
    fixed, so time grows with the file size; 10 minutes cover the smallest models on one core."""
    return int((10 + size_mb / 10) * attempt)
