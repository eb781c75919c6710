# SPDX-License-Identifier: MIT
"""Cross-field checks of the workflow's ``static`` config section (the schema checks each key)."""
from __future__ import annotations

import os

from ..errors import ConfigError


def check_static(static: dict, estimators: list) -> None:
    """Raise at parse time what the schema cannot see: repeated vector names, a vector file or
    corpus file that does not exist, a sample too small for the estimators' k.

    Raises
    ------
    ConfigError
    """
    names = [v["name"] for v in static.get("vectors", [])]
    for i, v in enumerate(static.get("vectors", [])):
        if names.count(v["name"]) > 1:
            raise ConfigError(f"config key 'static.vectors[{i}].name': {v['name']!r} is listed twice")
        if not os.path.isfile(v["path"]):
            raise ConfigError(f"config key 'static.vectors[{i}].path': no such file {v['path']!r}")
    corpus = static.get("corpus", "python3-doc")
    if corpus != "python3-doc" and not os.path.isfile(corpus):
        raise ConfigError(f"config key 'static.corpus': {corpus!r} is not python3-doc and no such file")
    if corpus.endswith(".csv") and static.get("corpus_column") is None:
        raise ConfigError("config key 'static.corpus_column': a .csv corpus needs its column "
                          "(AG-NEWS, no header: 2 = description)")
    k = max((s.k for s in estimators), default=2)
    if static.get("sample", 10000) < k + 1:
        raise ConfigError(f"config key 'static.sample': {static['sample']} words cannot give {k} neighbours")


FIGURES = ("table3", "table1")


def vector_sets(static: dict) -> list[str]:
    """Result directories under results/static: ``<tokenizer>/<model>`` (Table 3, model-major),
    then ``vectors/<name>`` (Table 1)."""
    sets = [f"{tok}/{model}" for model in static.get("models", []) for tok in static.get("tokenizers", [])]
    return sets + [f"vectors/{v['name']}" for v in static.get("vectors", [])]


def static_targets(static: dict) -> list[str]:
    """Targets of a static run: the summary table and its figures."""
    return ["results/static/summary.tsv"] + figure_files()


def figure_files() -> list[str]:
    return [f"results/static/{n}.{e}" for n in FIGURES for e in ("png", "svg")]


def measurement_files(static: dict) -> list[str]:
    """Every measure.json and baseline.json the summary reads."""
    return [f"results/static/{s}/{f}.json" for s in vector_sets(static) for f in ("measure", "baseline")]


def summarize_args(static: dict) -> str:
    """``embdim static summarize`` flags naming every vector set."""
    return " ".join([f"--tokenizer {t}" for t in static.get("tokenizers", [])]
                    + [f"--model {m}" for m in static.get("models", [])]
                    + [f"--vectors {v['name']}" for v in static.get("vectors", [])])
