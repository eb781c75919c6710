# SPDX-License-Identifier: MIT
"""config.yaml, the schema and embdim.config: the paper's sweep, coercion of --config strings,
errors that name the bad key, model slugs. Fast: no Snakemake jobs run."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from embdim import config as cfg
from embdim.errors import ConfigError
from tests.workflow.conftest import REPO, case_config, make_workdir

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"
PAPER_MODELS = [f"EleutherAI/pythia-{s}" for s in ("14m", "70m", "160m", "410m", "1b", "1.4b")]


def prepare(**overrides):
    raw = yaml.safe_load((REPO / "config.yaml").read_text())
    raw.update(overrides)
    return cfg.prepare(raw, SCHEMA)


def test_config_yaml_is_the_paper_sweep():
    sweep = prepare()
    assert list(sweep.models.values()) == PAPER_MODELS
    expected = list(range(1000, 10001, 1000)) + list(range(15000, 140001, 5000)) + [143000]
    assert sweep.steps == expected and len(expected) == 37
    assert [(e.name, e.k) for e in sweep.estimators] == [("mle", 10), ("mle", 5), ("twonn", 2)]
    assert [e.full for e in sweep.estimators] == ["mle:10:k-1:harmonic", "mle:5:k-1:harmonic", "twonn"]
    assert sweep.tensors == ["embed_in"] and "tensor" not in sweep.config
    assert (sweep.config["bootstrap"], sweep.config["k_curve"], sweep.config["sample"],
            sweep.config["seed"]) == (200, 32, None, 0)
    text = (REPO / "config.yaml").read_text()
    for size in ("31m", "2.8b", "6.9b", "12b"):  # listed, commented
        assert f"# - EleutherAI/pythia-{size}\n" in text
    assert "# - EleutherAI/pythia-12b-deduped" in text


def test_every_config_in_the_repo_validates():
    for path in [REPO / "config.yaml", *sorted((REPO / "config").glob("*.yaml"))]:
        raw = yaml.safe_load((REPO / "config.yaml").read_text())
        raw.update(yaml.safe_load(path.read_text()))  # as Snakemake merges --configfile
        cfg.prepare(raw, SCHEMA)


def test_command_line_strings_are_coerced():
    # what Snakemake's --config hands over (YAML BaseLoader): everything a string
    over = {k: yaml.load(v, Loader=yaml.BaseLoader) for k, v in {
        "models": '["EleutherAI/pythia-14m"]', "steps": "[1000,2000,{start: 5000, stop: 7000, every: 1000}]",
        "estimators": "[{name: mle, k: 7}]", "geometry": "false", "gpu": "1"}.items()}
    assert over["steps"][0] == "1000"
    sweep = prepare(**over)
    assert sweep.steps == [1000, 2000, 5000, 6000, 7000]
    assert [(e.name, e.k) for e in sweep.estimators] == [("mle", 7)]
    assert sweep.config["geometry"] is False and sweep.config["gpu"] == 1


@pytest.mark.parametrize("overrides, key", [
    ({"steps": ["x"]}, "steps[0]"),
    ({"steps": [{"start": 1, "stop": 5}]}, "steps[0]"),
    ({"steps": [{"start": 9, "stop": 5, "every": 1}]}, "steps[0]"),
    ({"stepz": [1]}, "stepz"),
    ({"estimators": [{"name": "pca", "k": 3}]}, "estimators[0].name"),
    ({"estimators": [{"name": "mle", "k": 1}]}, "estimators[0].k"),
    ({"estimators": [{"name": "mle"}]}, "estimators[0].k"),
    ({"estimators": [{"name": "twonn", "k": 7}]}, "estimators[0].k"),
    ({"estimators": [{"name": "mle", "k": 5}, {"name": "mle", "k": 5}]}, "estimators[1]"),
    ({"models": []}, "models"),
    ({"models": ["a/b", "a/b"]}, "models"),
    ({"device": "tpu"}, "device"),
    ({"gpu": 1, "device": "cpu"}, "gpu"),
    ({"demo": {"runs": ["sgd"]}}, "demo.runs[0]"),
    ({"demo": {"seeds": 1}}, "demo.seeds"),
    ({"estimators": [{"name": "mle", "k": 5, "normalization": "k-3"}]}, "estimators[0].normalization"),
    ({"estimators": [{"name": "mle", "k": 5, "aggregate": "mode"}]}, "estimators[0].aggregate"),
    ({"estimators": [{"name": "mle", "k": 2, "normalization": "k-2"}]}, "estimators[0]"),
    ({"estimators": [{"name": "twonn", "aggregate": "mean"}]}, "estimators[0]"),
    ({"estimators": [{"name": "mle", "k": 5}, {"name": "mle", "k": 5, "normalization": "k-1"}]},
     "estimators[1]"),
    ({"tensors": []}, "tensors"),
    ({"tensors": ["embed in"]}, "tensors[0]"),
    ({"bootstrap": -1}, "bootstrap"),
    ({"k_curve": 1}, "k_curve"),
    ({"sample": 1}, "sample"),
    ({"sample": 20}, "sample"),  # fewer rows than the k-curve's 32 neighbours
    ({"seed": -1}, "seed"),
    # a demo run the rule would have to train, but demo.runs leaves out
    ({"models": ["results/demo/nosuchrun"], "demo": {"runs": ["adam"]}}, "models[0]"),
])
def test_errors_name_the_bad_key(overrides, key):
    with pytest.raises(ConfigError, match=re.escape(f"'{key}'")):
        prepare(**overrides)


def test_defaults_are_filled():
    raw = {"models": ["EleutherAI/pythia-14m"], "steps": [1000]}
    c = cfg.prepare(raw, SCHEMA).config
    assert c["estimators"] == [{"name": "mle", "k": 10}] and c["tensors"] == ["embed_in"]
    assert c["geometry"] is True and c["demo"] == {"runs": ["adam", "coupled_adam"],
                                                    "train_steps": 600, "batch_size": 8,
                                                    "seq_len": 64, "seed": 0}
    assert c["baseline"] is True
    off = cfg.prepare({**raw, "baseline": "false"}, SCHEMA).config  # as --config gives it
    assert off["baseline"] is False
    with pytest.raises(ConfigError, match="baseline"):
        cfg.prepare({**raw, "baseline": "sometimes"}, SCHEMA)


def test_schema_closes_and_documents_every_object():
    def walk(node, path):
        if isinstance(node, dict):
            if node.get("type") == "object":
                assert node.get("additionalProperties") is False, path
                for name, sub in node.get("properties", {}).items():
                    assert "description" in sub or "$ref" in sub, f"{path}.{name}"
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")
    walk(yaml.safe_load(SCHEMA.read_text()), "schema")


def test_model_slugs_are_filesystem_safe():
    assert cfg.model_slug("EleutherAI/pythia-14m") == "EleutherAI--pythia-14m"
    assert cfg.model_slug("EleutherAI/pythia-1.4b-deduped") == "EleutherAI--pythia-1.4b-deduped"
    assert cfg.model_slug("results/demo/adam") == "local--results-demo-adam"
    assert cfg.model_slug("/data/runs/my run") == "local--data-runs-my_run"
    for model in ("../x/y", "/a/b c/d:e"):
        assert "/" not in cfg.model_slug(model) and " " not in cfg.model_slug(model)
    sweep = cfg.prepare({"models": ["results/demo/adam", "EleutherAI/pythia-14m"], "steps": [1]}, SCHEMA)
    assert sweep.demo_marker("local--results-demo-adam") == "results/demo/adam/train.json"
    assert sweep.demo_marker("EleutherAI--pythia-14m") is None


def test_snakemake_reports_a_bad_key_at_parse_time(tmp_path):
    wd = make_workdir(tmp_path / "wd", case_config("one_hub_model"))

    def dry_run(*config):
        return subprocess.run([sys.executable, "-m", "snakemake", "-n", "--config", *config],
                              cwd=wd, capture_output=True, text=True, timeout=120)

    bad = dry_run("steps=[1000,{start: 1}]")
    assert bad.returncode != 0
    assert "config key 'steps[1]'" in bad.stdout + bad.stderr
    # the issue's own override example parses (strings coerced); only list_revisions can run yet
    good = dry_run('models=["EleutherAI/pythia-14m"]', "steps=[1000,2000]")
    assert good.returncode == 0, good.stderr[-2000:]
    assert "list_revisions" in good.stdout


def test_tensors_list_or_one_tensor_and_conventions():
    sweep = prepare(tensors=["embed_in", "embed_out"])
    assert sweep.tensors == ["embed_in", "embed_out"]
    assert prepare(tensor="embed_out").tensors == ["embed_out"]  # the single key still works
    assert prepare(tensors=["embed_in", "embed_out"], tensor="embed_out").tensors == ["embed_out"]
    sweep = prepare(estimators=[{"name": "mle", "k": 10, "normalization": "k", "aggregate": "mean"},
                                {"name": "mle", "k": 10}, {"name": "twonn"}],
                    bootstrap=0, k_curve=0, sample=1000, seed=3, geometry=False)
    assert [e.full for e in sweep.estimators] == ["mle:10:k:mean", "mle:10:k-1:harmonic", "twonn"]
    assert sweep.measure_args() == (
        "--estimator mle:10:k:mean --estimator mle:10:k-1:harmonic --estimator twonn"
        " --normalization k --aggregate mean --k-curve 0 --bootstrap 0 --seed 3 --sample 1000"
        " --no-geometry")
