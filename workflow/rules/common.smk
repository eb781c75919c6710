# Load and check the config, define wildcard constraints and the target lists.
# Logic lives in embdim.config / embdim.summary; this file only wires it to Snakemake.
import os
import re
import shlex

from embdim import config as embdim_config
from embdim.plots import FIGURES as PLOTS
from embdim.revnames import SAFE_REVISION
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
    # any revision name a suite uses (step1000, global_step1000, iter_0001000, checkpoint-1000,
    # ckpt_000123, stage1-step101000-tokens424B, or a revision_pattern's); never a path separator
    revision=SAFE_REVISION,


def final_outputs():
    """Targets of the default run: the summary table, its integrity audit and the plots (the
    static tables when config sets `static`: static.smk)."""
    if config.get("static"):
        return static_targets(config["static"])
    return [
        "results/summary.tsv",
        "results/integrity.tsv",
        "results/integrity.html",
    ] + plot_files()


def revision_pattern_arg():
    """`--revision-pattern` for embdim revisions/summarize, or nothing (the defaults)."""
    pattern = SWEEP.config.get("revision_pattern")
    return "" if pattern is None else f"--revision-pattern {shlex.quote(pattern)}"


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
    args.append(f"--tokens-per-step {SWEEP.config['tokens_per_step']}")
    if SWEEP.config.get("revision_pattern") is not None:
        args.append(revision_pattern_arg())
    return " ".join(args)


def token_files(wildcards=None):
    """Per-token views (tabulate_tokens) of the models that have them, once their revisions
    are listed (an input function of the default target; a model without any requested step
    has no view)."""
    return [
        f"results/{slug}/{tensor}/{name}"
        for slug in SWEEP.models
        if SWEEP.tokens_enabled(slug) and listed_revisions(slug)
        for tensor in SWEEP.tensors
        for name in ("tokens.tsv", "tokens_lid.png", "tokens_top20.html")
    ]


def measure_input(wildcards):
    """The embedding, and with rows: tokenizer the checkpoint's tokenizer.json."""
    base = f"results/{wildcards.model}/{wildcards.tensor}/{wildcards.revision}"
    files = {"embedding": f"{base}/embedding.safetensors"}
    if SWEEP.uses_tokenizer(wildcards.model):
        files["tokenizer"] = f"{base}/tokenizer.json"
    return files


def rows_args(wildcards, input):
    if "tokenizer" in input.keys():
        return f"--rows tokenizer --tokenizer {shlex.quote(input.tokenizer)}"
    return "--rows all"


def tokens_input(wildcards):
    """Every listed step's lid.npz and the last step's tokenizer.json."""
    revisions = listed_revisions(wildcards.model)
    if not revisions:
        raise ValueError(f"{wildcards.model}: no requested step to tabulate tokens on")
    base = f"results/{wildcards.model}/{wildcards.tensor}"
    return {
        "lid": [f"{base}/{rev}/lid.npz" for rev in revisions],
        "tokenizer": f"{base}/{revisions[-1]}/tokenizer.json",
    }


def tokens_steps(wildcards):
    from embdim.config import parse_step

    return ",".join(str(parse_step(r)) for r in listed_revisions(wildcards.model))
