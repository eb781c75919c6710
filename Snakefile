# embdim sweep: intrinsic dimension of token embeddings over training.
#
# Result layout ({model} is the filesystem-safe model name, EleutherAI--pythia-14m or
# local--results-demo-adam; {tensor} a configured tensor, embed_in or embed_out; {revision} is
# the revision name: Hub branch or run subdirectory, e.g. step1000, checkpoint-1000):
#   results/{model}/revisions.tsv                                list_revisions (checkpoint)
#   results/{model}/{tensor}/{revision}/embedding.safetensors    fetch_embedding
#   results/{model}/{tensor}/{revision}/measure.json, lid.npz    measure_checkpoint
#   results/{model}/{tensor}/baseline.json                       estimate_baseline
#   results/summary.tsv                                          summarize_sweep
#   results/plots/{tensor}/*.png, *.svg                          plot_dynamics
#   results/{model}/{tensor}/{revision}/tokenizer.json           fetch_tokenizer
#   results/{model}/{tensor}/tokens.tsv, tokens_lid.png, tokens_top20.html   tabulate_tokens
#   results/{model}/hidden/sample.npz                            sample_text (hidden.enabled)
#   results/{model}/hidden/{revision}/checkpoint/, fetch.json    fetch_checkpoint (Hub models)
#   results/{model}/hidden/{revision}/layers-{tokens}.json       measure_layers (sample|shuffled)
#   results/layers.tsv, results/plots/layers/*.png, *.svg        summarize_layers, plot_layers
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
include: "workflow/rules/tokens.smk"
include: "workflow/rules/hidden.smk"
include: "workflow/rules/static.smk"


rule all:
    input:
        final_outputs(),
        token_files,
        hidden_outputs(),
