# SPDX-License-Identifier: MIT
"""The ``hidden:`` block of the sweep config: which models and steps get hidden-state jobs, and
the flags those jobs take (the workflow's hidden.smk reads it at parse time)."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import Sweep, model_slug
from ..errors import ConfigError


@dataclass
class HiddenPlan:
    """``enabled``; ``models`` slug -> model (default: the sweep's); ``steps`` (default: the
    sweep's); ``config`` the filled ``hidden`` block."""

    enabled: bool
    models: dict[str, str]
    steps: list[int]
    config: dict

    def sample_args(self, seed: int) -> str:
        c = self.config
        return (f"--corpus {c['corpus']} --n-seq {c['n_seq']} --seq-len {c['seq_len']} "
                f"--seed {seed}")

    @staticmethod
    def shuffle_flag(revision: str, revisions: list[str]) -> str:
        """``--also-shuffled`` (the word-order baseline) for the last of the model's measured
        ``revisions`` (requested steps that exist), else ''."""
        return "--also-shuffled" if revisions and revision == revisions[-1] else ""

    def measure_args(self, sweep: Sweep) -> str:
        """``embdim hidden`` flags (no paths): estimators, points, positions, bootstrap, seed."""
        c, cfg = self.config, sweep.config
        est = " ".join(f"--estimator {s.full}" for s in sweep.estimators)
        return (f"{est} --n-points {c['n_points']} --measure-positions {','.join(c['positions'])}"
                f" --bootstrap {cfg.get('bootstrap', 200)} --seed {cfg.get('seed', 0)}")


def plan(sweep: Sweep) -> HiddenPlan:
    """The hidden-state plan of a checked sweep.

    Raises
    ------
    ConfigError
        ``hidden.models`` names a model the sweep does not list, ``hidden.steps`` a step it does
        not request, or ``n_points`` cannot give the estimators' neighbours.
    """
    from ..config import expand_steps

    c = dict(sweep.config.get("hidden") or {})
    models = dict(sweep.models)
    if c.get("models"):
        wanted = {}
        for i, m in enumerate(c["models"]):
            if model_slug(m) not in models:
                raise ConfigError(f"config key 'hidden.models[{i}]': {m!r} is not in 'models'")
            wanted[model_slug(m)] = m
        models = wanted
    steps = expand_steps(c["steps"]) if c.get("steps") else list(sweep.steps)
    extra = sorted(set(steps) - set(sweep.steps))
    if extra:
        raise ConfigError(f"config key 'hidden.steps': step {extra[0]} is not in 'steps' (its "
                          "revision is listed with the sweep's)")
    k = max(s.k for s in sweep.estimators)
    n_tokens = c["n_seq"] * (c["seq_len"] - ("skip0" in c["positions"]))
    if min(c["n_points"] or n_tokens, n_tokens) < k + 1:
        raise ConfigError(f"config key 'hidden.n_points': {min(c['n_points'] or n_tokens, n_tokens)}"
                          f" points cannot give {k} neighbours")
    return HiddenPlan(bool(c.get("enabled")), models, steps, c)


def mem_mb(size_mb: float, n_tokens: int, attempt: int = 1) -> int:
    """Memory of one measure_layers job: the weights widened to float32 and copied once on load
    (3x their fp16 file), plus every layer's states kept for the measurement, ~0.25 MB per token
    (Pythia-1.4b: 26 tensors x 2048 x 4 bytes = 213 kB; larger models need more per attempt)."""
    return int((1024 + 3 * size_mb + 0.25 * n_tokens) * attempt)


def runtime_min(size_mb: float, attempt: int = 1) -> int:
    """Minutes of one measure_layers job: the CPU forward of 32 768 tokens took 80 s for 70m and
    223 s for 160m (fp32, 2 cores), about 1 min per 100 MB of fp16 weights, plus the kNNs."""
    return int((15 + size_mb / 50) * attempt)
