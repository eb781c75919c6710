# Per-model and per-checkpoint rules: list the revisions, fetch one tensor, measure it.


checkpoint list_revisions:
    input:
        revisions_input,
    output:
        tsv="results/{model}/revisions.tsv",
    log:
        "logs/list_revisions/{model}.log",
    benchmark:
        "benchmarks/list_revisions/{model}.tsv"
    retries: config["retries"]
    conda:
        "../../envs/embdim.yaml"
    params:
        model=model_arg,
        tensor=config["tensor"],
    shell:
        "embdim revisions {params.model:q} --tensor {params.tensor} --out {output.tsv} > {log} 2>&1"


# ancient(): the listing orders the fetch after it, but listing a model again (a new
# revisions.tsv) must not fetch every checkpoint again.
rule fetch_embedding:
    input:
        ancient("results/{model}/revisions.tsv"),
    output:
        "results/{model}/{revision}/embedding.safetensors",
    log:
        json="logs/fetch_embedding/{model}/{revision}.json",
        stderr="logs/fetch_embedding/{model}/{revision}.log",
    benchmark:
        "benchmarks/fetch_embedding/{model}/{revision}.tsv"
    retries: config["retries"]
    conda:
        "../../envs/embdim.yaml"
    resources:
        download=1,
    params:
        model=model_arg,
        tensor=config["tensor"],
    shell:
        "embdim fetch {params.model:q} --revision {wildcards.revision} --tensor {params.tensor}"
        " --out {output} --json > {log.json} 2> {log.stderr}"


rule estimate_id:
    input:
        rules.fetch_embedding.output,
    output:
        "results/{model}/{revision}/id-{estimator}-k{k}.json",
    log:
        "logs/estimate_id/{model}/{revision}/{estimator}-k{k}.log",
    benchmark:
        "benchmarks/estimate_id/{model}/{revision}/{estimator}-k{k}.tsv"
    conda:
        "../../envs/embdim.yaml"
    threads: config["threads"]
    resources:
        mem_mb=lambda wc, input, attempt: embdim_config.estimate_mem_mb(
            input.size_mb, attempt
        ),
        runtime=lambda wc, input, attempt: embdim_config.estimate_runtime_min(
            input.size_mb, attempt
        ),
        gpu=config["gpu"],
    params:
        k=lambda wc: f"--k {wc.k}" if wc.estimator == "mle" else "",
        device=config["device"],
    shell:
        "OMP_NUM_THREADS={threads} embdim estimate {input} --estimator {wildcards.estimator}"
        " {params.k} --device {params.device} --out {output} > {log} 2>&1"


rule measure_geometry:
    input:
        rules.fetch_embedding.output,
    output:
        "results/{model}/{revision}/geometry.json",
    log:
        "logs/measure_geometry/{model}/{revision}.log",
    benchmark:
        "benchmarks/measure_geometry/{model}/{revision}.tsv"
    conda:
        "../../envs/embdim.yaml"
    threads: config["threads"]
    resources:
        mem_mb=lambda wc, input, attempt: embdim_config.estimate_mem_mb(
            input.size_mb, attempt
        ),
    shell:
        "OMP_NUM_THREADS={threads} embdim geometry {input} --out {output} > {log} 2>&1"


# N(0, I) samples shaped like the model's last measured checkpoint (n_unique x ed), measured
# like it: the ID the estimator reports for structureless data of that size (plot_dynamics).
rule estimate_baseline:
    input:
        unpack(baseline_input),
    output:
        "results/{model}/baseline-{estimator}-k{k}.json",
    log:
        "logs/estimate_baseline/{model}/{estimator}-k{k}.log",
    benchmark:
        "benchmarks/estimate_baseline/{model}/{estimator}-k{k}.tsv"
    conda:
        "../../envs/embdim.yaml"
    threads: config["threads"]
    resources:
        mem_mb=lambda wc, input, attempt: embdim_config.estimate_mem_mb(
            input.size_mb, attempt
        ),
        runtime=lambda wc, input, attempt: embdim_config.estimate_runtime_min(
            input.size_mb, attempt
        ),
        gpu=config["gpu"],
    params:
        k=lambda wc: f"--k {wc.k}" if wc.estimator == "mle" else "",
        seed=0,
        device=config["device"],
    shell:
        "OMP_NUM_THREADS={threads} embdim baseline random --like {input.estimate}"
        " --estimator {wildcards.estimator} {params.k} --seed {params.seed}"
        " --device {params.device} --out {output} > {log} 2>&1"
