# embdim sweep: intrinsic dimension of token embeddings over training.
#
# Result layout ({model} is the filesystem-safe model name, EleutherAI--pythia-14m or
# local--results-demo-adam; {tensor} a configured tensor, embed_in or embed_out; {revision} is
# the Hub branch step{N}):
#   results/{model}/revisions.tsv                                list_revisions (checkpoint)
#   results/{model}/{tensor}/{revision}/embedding.safetensors    fetch_embedding
#   results/{model}/{tensor}/{revision}/measure.json, lid.npz    measure_checkpoint
#   results/{model}/{tensor}/baseline.json                       estimate_baseline
#   results/summary.tsv                                          summarize_sweep
#   results/plots/{tensor}/*.png, *.svg                          plot_dynamics
#   results/static/...                                           static.smk (its own header)
#   logs/{rule}/..., benchmarks/{rule}/...                       one log and benchmark per job


import os

from snakemake.utils import min_version

min_version("9.0")


# The working directory's config.yaml (normally this checkout's); else the one beside this file.
configfile:
    "config.yaml"
    if os.path.exists("config.yaml")
    else os.path.join(workflow.basedir, "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/sweep.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/static.smk"


rule all:
    input:
        final_outputs(),
