# SPDX-License-Identifier: MIT
"""The ``hidden:`` config block: defaults, subsets of the sweep, errors that name the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from embdim import config as cfg
from embdim.errors import ConfigError
from embdim.hidden.plan import plan

SCHEMA = Path(__file__).resolve().parents[2] / "workflow/schemas/config.schema.yaml"
BASE = {"models": ["EleutherAI/pythia-14m", "EleutherAI/pythia-70m"], "steps": [0, 1000, 2000],
        "estimators": [{"name": "mle", "k": 10}, {"name": "twonn"}]}


def _plan(hidden: dict):
    return plan(cfg.prepare({**BASE, "hidden": hidden}, SCHEMA))


def test_defaults_follow_the_sweep():
    p = plan(cfg.prepare(dict(BASE), SCHEMA))
    assert not p.enabled and p.steps == [0, 1000, 2000] and list(p.models.values()) == BASE["models"]
    assert (p.config["corpus"], p.config["n_seq"], p.config["seq_len"], p.config["n_points"],
            p.config["positions"], p.config["keep"]) == ("pydoc", 256, 128, 4096, ["all", "skip0"], False)
    assert "--estimator mle:10:k-1:harmonic --estimator twonn --n-points 4096" in \
        p.measure_args(cfg.prepare(dict(BASE), SCHEMA))
    assert p.shuffle_flag("step2000", ["step0", "step2000"]) == "--also-shuffled"
    assert p.shuffle_flag("step0", ["step0", "step2000"]) == ""


def test_subsets_and_command_line_strings():
    p = _plan({"enabled": "true", "models": ["EleutherAI/pythia-70m"], "steps": ["1000"],
               "n_seq": "4", "seq_len": "8"})
    assert p.enabled and list(p.models) == ["EleutherAI--pythia-70m"] and p.steps == [1000]


@pytest.mark.parametrize("hidden, key", [
    ({"models": ["EleutherAI/pythia-1b"]}, "hidden.models[0]"),
    ({"steps": [5]}, "hidden.steps"),
    ({"n_seq": 1, "seq_len": 8, "n_points": 0}, "hidden.n_points"),
    ({"positions": ["first"]}, "hidden.positions[0]"),
    ({"enable": True}, "hidden.enable"),
])
def test_errors_name_the_key(hidden, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        _plan(hidden)
