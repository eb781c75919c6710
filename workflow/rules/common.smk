# Load and check the config, define wildcard constraints and the target lists.
# Logic lives in embdim.config / embdim.summary; this file only wires it to Snakemake.
import os
import re
import shlex

from embdim import config as embdim_config
from embdim.plots import FIGURES as PLOTS
from embdim.summary import requested_revisions

SWEEP = embdim_config.prepare(
    config, workflow.source_path("../schemas/config.schema.yaml")
)
config.update(SWEEP.config)

# conda deployments install the package from this checkout (envs/embdim.post-deploy.sh).
os.environ.setdefault("EMBDIM_SRC", str(workflow.basedir))


wildcard_constraints:
    model="|".join(re.escape(slug) for slug in SWEEP.models),
    revision="step[0-9]+",
    estimator="|".join(embdim_config.ESTIMATORS),
    k="[0-9]+",


def final_outputs():
    """Targets of the default run: the summary table and the plots."""
    return ["results/summary.tsv"] + plot_files()


def plot_files(ext=("png", "svg")):
    return [f"results/plots/{name}.{e}" for name in PLOTS for e in ext]


def revisions_input(wildcards):
    """A demo run directory exists only after train_demo_model wrote its marker."""
    marker = SWEEP.demo_marker(wildcards.model)
    return [marker] if marker else []


def model_arg(wildcards):
    return SWEEP.models[wildcards.model]


def sweep_results(wildcards):
    """Per-checkpoint results the summary needs, known once every list_revisions has run.

    Steps missing from a model (or without the tensor) get no inputs: summarize_sweep
    records them with status=missing.
    """
    files = []
    for slug in SWEEP.models:
        table = checkpoints.list_revisions.get(model=slug).output.tsv
        for revision in requested_revisions(table, SWEEP.steps):
            base = f"results/{slug}/{revision}"
            files += [f"{base}/id-{name}-k{k}.json" for name, k in SWEEP.estimators]
            if SWEEP.config["geometry"]:
                files.append(f"{base}/geometry.json")
        if SWEEP.config["baseline"] and requested_revisions(table, SWEEP.steps):
            files += [baseline_file(slug, name, k) for name, k in SWEEP.estimators]
    return files


def baseline_file(slug, estimator, k):
    return f"results/{slug}/baseline-{estimator}-k{k}.json"


def last_revision(wildcards):
    """The model's last requested step that exists (after its list_revisions has run)."""
    table = checkpoints.list_revisions.get(model=wildcards.model).output.tsv
    revisions = requested_revisions(table, SWEEP.steps)
    if not revisions:
        raise ValueError(f"{wildcards.model}: no requested step to shape a baseline on")
    return revisions[-1]


def baseline_input(wildcards):
    """The last step's estimate (its n_unique x ed is the baseline's shape) and embedding
    (only its size, for the resources; ancient: a new fetch must not redo the baseline).
    """
    base = f"results/{wildcards.model}/{last_revision(wildcards)}"
    return {
        "estimate": f"{base}/id-{wildcards.estimator}-k{wildcards.k}.json",
        "embedding": ancient(f"{base}/embedding.safetensors"),
    }


def summarize_args():
    """Command-line arguments of `embdim summarize` describing the requested sweep."""
    args = [f"--model {shlex.quote(m)}" for m in SWEEP.models.values()]
    args.append("--steps " + ",".join(map(str, SWEEP.steps)))
    args += [f"--estimator {name}:{k}" for name, k in SWEEP.estimators]
    args.append("--geometry" if SWEEP.config["geometry"] else "--no-geometry")
    args.append("--baseline" if SWEEP.config["baseline"] else "--no-baseline")
    return " ".join(args)
