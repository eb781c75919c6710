# The hidden-state stage's plan, targets and input functions (hidden.smk holds its rules).
# Logic lives in embdim.hidden.plan; this file only wires it to Snakemake.
from embdim.config import is_local_model
from embdim.hidden import plan as hidden_plan
from embdim.hidden.plots import FIGURES as LAYER_PLOTS

HIDDEN = hidden_plan.plan(SWEEP)


def hidden_outputs():
    """Targets of the stage: the table and its figures (none when disabled)."""
    if not HIDDEN.enabled:
        return []
    return ["results/layers.tsv"] + [
        f"results/plots/layers/{name}.{ext}"
        for name in LAYER_PLOTS
        for ext in ("png", "svg")
    ]


def hidden_revisions(slug):
    """The model's requested hidden-state revisions that exist (after its listing ran)."""
    table = checkpoints.list_revisions.get(model=slug).output.tsv
    return requested_revisions(table, HIDDEN.steps)


def hidden_results(wildcards):
    """Every measure_layers output, once the listings are known (missing steps get none)."""
    return [
        f"results/{slug}/hidden/{rev}/layers.json"
        for slug in HIDDEN.models
        for rev in hidden_revisions(slug)
    ]


def hidden_checkpoint(wildcards):
    """A local run's step is read in place (its listing orders the job after training); a Hub
    checkpoint comes from fetch_checkpoint."""
    if is_local_model(SWEEP.models[wildcards.model]):
        return {"listing": ancient(f"results/{wildcards.model}/revisions.tsv")}
    base = f"results/{wildcards.model}/hidden/{wildcards.revision}"
    return {
        "weights": f"{base}/checkpoint/model.safetensors",
        "config": f"{base}/checkpoint/config.json",
        "record": f"{base}/fetch.json",
    }


def hidden_model_dir(wildcards):
    model = SWEEP.models[wildcards.model]
    if is_local_model(model):
        return os.path.join(model, wildcards.revision)
    return f"results/{wildcards.model}/hidden/{wildcards.revision}/checkpoint"


def kept(path):
    return path if HIDDEN.config["keep"] else temp(path)
