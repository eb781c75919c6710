# Load and check the config, define wildcard constraints and the target lists.
# Logic lives in embdim.config / embdim.summary; this file only wires it to Snakemake.
import os
import re
import shlex

from embdim import config as embdim_config
from embdim.plots import FIGURES as PLOTS
from embdim.static.settings import static_targets
from embdim.summary import requested_revisions

SWEEP = embdim_config.prepare(
    config, workflow.source_path("../schemas/config.schema.yaml")
)
config.update(SWEEP.config)
# what was swept (a single `tensor:` replaces the list)
config["tensors"] = SWEEP.tensors

# conda deployments install the package from this checkout (envs/embdim.post-deploy.sh).
os.environ.setdefault("EMBDIM_SRC", str(workflow.basedir))


wildcard_constraints:
    model="|".join(re.escape(slug) for slug in SWEEP.models),
    tensor="|".join(re.escape(t) for t in SWEEP.tensors),
    revision="step[0-9]+",


def final_outputs():
    """Targets of the default run: the summary table and the plots (the static tables
    when config sets `static`: static.smk)."""
    if config.get("static"):
        return static_targets(config["static"])
    return ["results/summary.tsv"] + plot_files()


def plot_files(ext=("png", "svg")):
    return [
        f"results/plots/{tensor}/{name}.{e}"
        for tensor in SWEEP.tensors
        for name in PLOTS
        for e in ext
    ]


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
        revisions = listed_revisions(slug)
        for tensor in SWEEP.tensors:
            files += [
                f"results/{slug}/{tensor}/{rev}/measure.json" for rev in revisions
            ]
            if SWEEP.config["baseline"] and revisions:
                files.append(f"results/{slug}/{tensor}/baseline.json")
    return files


def lid_files(wildcards):
    """Every checkpoint's lid.npz (the LID histograms of plot_dynamics)."""
    return [
        f"results/{slug}/{tensor}/{rev}/lid.npz"
        for slug in SWEEP.models
        for rev in listed_revisions(slug)
        for tensor in SWEEP.tensors
    ]


def listed_revisions(slug):
    """The model's requested revisions that exist (after its list_revisions has run)."""
    table = checkpoints.list_revisions.get(model=slug).output.tsv
    return requested_revisions(table, SWEEP.steps)


def baseline_input(wildcards):
    """The last step's measurement (its n_unique x ed is the baseline's shape) and embedding
    (only its size, for the resources; ancient: a new fetch must not redo the baseline).
    """
    revisions = listed_revisions(wildcards.model)
    if not revisions:
        raise ValueError(f"{wildcards.model}: no requested step to shape a baseline on")
    base = f"results/{wildcards.model}/{wildcards.tensor}/{revisions[-1]}"
    return {
        "measure": f"{base}/measure.json",
        "embedding": ancient(f"{base}/embedding.safetensors"),
    }


def summarize_args():
    """Command-line arguments of `embdim summarize` describing the requested sweep."""
    args = [f"--model {shlex.quote(m)}" for m in SWEEP.models.values()]
    args.append("--steps " + ",".join(map(str, SWEEP.steps)))
    args += [f"--tensor {shlex.quote(t)}" for t in SWEEP.tensors]
    args += [f"--estimator {spec.full}" for spec in SWEEP.estimators]
    args.append("--geometry" if SWEEP.config["geometry"] else "--no-geometry")
    args.append("--baseline" if SWEEP.config["baseline"] else "--no-baseline")
    return " ".join(args)
