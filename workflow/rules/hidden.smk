# Hidden states layer by layer (config `hidden:`; off unless hidden.enabled). Per model: one
# token sample; per checkpoint: the full checkpoint (Hub: fetched without embed_out, temp()
# unless hidden.keep; local runs: read in place) and one measure_layers job looping over the
# layers in one process; the job of the last measured step also measures the same tokens
# shuffled within each sequence (the word-order baseline), in the same process.
include: "hidden_common.smk"


rule sample_text:
    input:
        revisions_input,
    output:
        "results/{model}/hidden/sample.npz",
    log:
        "logs/sample_text/{model}.log",
    benchmark:
        "benchmarks/sample_text/{model}.tsv"
    conda:
        "../../envs/embdim.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        tokenizer=model_arg,
        args=HIDDEN.sample_args(config["seed"]),
    shell:
        "embdim sample-text --tokenizer {params.tokenizer:q} {params.args}"
        " --out {output} > {log} 2>&1"


rule fetch_checkpoint:
    input:
        ancient("results/{model}/revisions.tsv"),
    output:
        weights=kept("results/{model}/hidden/{revision}/checkpoint/model.safetensors"),
        config=kept("results/{model}/hidden/{revision}/checkpoint/config.json"),
        record="results/{model}/hidden/{revision}/fetch.json",
    log:
        "logs/fetch_checkpoint/{model}/{revision}.log",
    benchmark:
        "benchmarks/fetch_checkpoint/{model}/{revision}.tsv"
    retries: config["retries"]
    conda:
        "../../envs/embdim.yaml"
    resources:
        download=1,
        mem_mb=lambda wc, attempt: 4000 * attempt,
    params:
        model=model_arg,
    shell:
        "embdim fetch-checkpoint {params.model:q} --revision {wildcards.revision}"
        " --out-dir results/{wildcards.model}/hidden/{wildcards.revision}/checkpoint"
        " --record {output.record} > {log} 2>&1"


rule measure_layers:
    input:
        unpack(hidden_checkpoint),
        sample="results/{model}/hidden/sample.npz",
    output:
        "results/{model}/hidden/{revision}/layers.json",
    log:
        "logs/measure_layers/{model}/{revision}.log",
    benchmark:
        "benchmarks/measure_layers/{model}/{revision}.tsv"
    conda:
        "../../envs/embdim.yaml"
    threads: config["threads"]
    resources:
        mem_mb=lambda wc, input, attempt: hidden_plan.mem_mb(
            input.size_mb, HIDDEN.config["n_seq"] * HIDDEN.config["seq_len"], attempt
        ),
        runtime=lambda wc, input, attempt: hidden_plan.runtime_min(
            input.size_mb, attempt
        ),
        gpu=config["gpu"],
    params:
        model_dir=hidden_model_dir,
        args=HIDDEN.measure_args(SWEEP),
        shuffled=lambda wc: HIDDEN.shuffle_flag(wc.revision, hidden_revisions(wc.model)),
        device=config["device"],
    shell:
        "OMP_NUM_THREADS={threads} embdim hidden {params.model_dir:q} --tokens {input.sample}"
        " {params.shuffled} {params.args} --device {params.device} --threads {threads}"
        " --measure-out {output} > {log} 2>&1"


rule summarize_layers:
    input:
        tables=expand(rules.list_revisions.output.tsv, model=HIDDEN.models),
        results=hidden_results,
    output:
        report(
            "results/layers.tsv",
            caption="../report/layers.rst",
            category="Hidden states",
        ),
    log:
        "logs/summarize_layers/summarize_layers.log",
    benchmark:
        "benchmarks/summarize_layers/summarize_layers.tsv"
    conda:
        "../../envs/embdim.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        args=" ".join(
            [f"--model {shlex.quote(m)}" for m in HIDDEN.models.values()]
            + ["--steps " + ",".join(map(str, HIDDEN.steps))]
            + [f"--estimator {s.full}" for s in SWEEP.estimators]
            + ["--positions " + ",".join(HIDDEN.config["positions"])]
        ),
    shell:
        "embdim layers summarize results {params.args} --out {output} > {log} 2>&1"


rule plot_layers:
    input:
        rules.summarize_layers.output,
    output:
        [
            report(
                f"results/plots/layers/{name}.{ext}",
                caption=f"../report/{name}.rst",
                category="Hidden states",
                labels={"figure": name, "format": ext},
            )
            for name in LAYER_PLOTS
            for ext in ("png", "svg")
        ],
    log:
        "logs/plot_layers/plot_layers.log",
    benchmark:
        "benchmarks/plot_layers/plot_layers.tsv"
    conda:
        "../../envs/embdim.yaml"
    resources:
        mem_mb=2000,
        runtime=15,
    shell:
        "embdim layers plot {input} --out-dir results/plots/layers > {log} 2>&1"
