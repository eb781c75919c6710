# Tokenizer-aware rows and the per-token view: each checkpoint's tokenizer.json (for rows:
# tokenizer, and the last step's for the token table), then one table of every token's local ID
# over training per model and tensor, with its figure and the report's top-20 lists.


# One paths-info call per revision; the file itself is downloaded once per model and blob
# (results/{model}/tokenizers/<blob id>.json is the cache); a local run copies its own.
rule fetch_tokenizer:
    input:
        ancient("results/{model}/revisions.tsv"),
    output:
        "results/{model}/{tensor}/{revision}/tokenizer.json",
    log:
        "logs/fetch_tokenizer/{model}/{tensor}/{revision}.log",
    benchmark:
        "benchmarks/fetch_tokenizer/{model}/{tensor}/{revision}.tsv"
    retries: config["retries"]
    conda:
        "../../envs/embdim.yaml"
    resources:
        download=1,
        mem_mb=500,
        runtime=10,
    params:
        model=model_arg,
    shell:
        "embdim fetch-tokenizer {params.model:q} --revision {wildcards.revision}"
        " --cache results/{wildcards.model}/tokenizers --out {output} --json > {log} 2>&1"


rule tabulate_tokens:
    input:
        unpack(tokens_input),
    output:
        tsv="results/{model}/{tensor}/tokens.tsv",
        figure=report(
            "results/{model}/{tensor}/tokens_lid.png",
            caption="../report/tokens_lid.rst",
            category="Tokens",
            subcategory="{tensor}",
            labels={"model": "{model}", "tensor": "{tensor}", "view": "trajectories"},
        ),
        top=report(
            "results/{model}/{tensor}/tokens_top20.html",
            caption="../report/tokens_top20.rst",
            category="Tokens",
            subcategory="{tensor}",
            labels={"model": "{model}", "tensor": "{tensor}", "view": "top 20"},
        ),
    log:
        "logs/tabulate_tokens/{model}/{tensor}.log",
    benchmark:
        "benchmarks/tabulate_tokens/{model}/{tensor}.tsv"
    conda:
        "../../envs/embdim.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        steps=tokens_steps,
    shell:
        "embdim tokens results/{wildcards.model}/{wildcards.tensor} --steps {params.steps}"
        " --tokenizer {input.tokenizer} --out {output.tsv} --figure {output.figure}"
        " --top-out {output.top} --json > {log} 2>&1"
