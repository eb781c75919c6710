# Per-model and per-checkpoint rules: list the revisions, fetch each tensor, measure it.


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
        tensor=SWEEP.tensors[0],
        pattern=revision_pattern_arg(),
    shell:
        "embdim revisions {params.model:q} --tensor {params.tensor} {params.pattern}"
        " --out {output.tsv} > {log} 2>&1"


# ancient(): the listing orders the fetch after it, but listing a model again (a new
# revisions.tsv) must not fetch every checkpoint again.
rule fetch_embedding:
    input:
        ancient("results/{model}/revisions.tsv"),
    output:
        "results/{model}/{tensor}/{revision}/embedding.safetensors",
    log:
        json="logs/fetch_embedding/{model}/{tensor}/{revision}.json",
        stderr="logs/fetch_embedding/{model}/{tensor}/{revision}.log",
    benchmark:
        "benchmarks/fetch_embedding/{model}/{tensor}/{revision}.tsv"
    retries: config["retries"]
    conda:
        "../../envs/embdim.yaml"
    resources:
        download=1,
    params:
        model=model_arg,
    shell:
        "embdim fetch {params.model:q} --revision {wildcards.revision} --tensor {wildcards.tensor}"
        " --out {output} --json > {log.json} 2> {log.stderr}"


# Every estimator, its bootstrap interval, ID vs k, per-token LID and the geometry of one
# checkpoint's tensor, from one read and one kNN (embdim measure).
rule measure_checkpoint:
    input:
        unpack(measure_input),
    output:
        json="results/{model}/{tensor}/{revision}/measure.json",
        lid="results/{model}/{tensor}/{revision}/lid.npz",
    log:
        "logs/measure_checkpoint/{model}/{tensor}/{revision}.log",
    benchmark:
        "benchmarks/measure_checkpoint/{model}/{tensor}/{revision}.tsv"
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
        args=SWEEP.measure_args(),
        device=config["device"],
        rows=rows_args,
    shell:
        "OMP_NUM_THREADS={threads} embdim measure {input.embedding} {params.args} {params.rows}"
        " --device {params.device} --threads {threads}"
        " --out {output.json} --lid-out {output.lid} > {log} 2>&1"


# N(0, I) samples shaped like the model's last measured checkpoint (n_unique x ed), measured
# like it under every estimator from one kNN: the ID the estimators report for structureless
# data of that size (plot_dynamics).
rule estimate_baseline:
    input:
        unpack(baseline_input),
    output:
        "results/{model}/{tensor}/baseline.json",
    log:
        "logs/estimate_baseline/{model}/{tensor}.log",
    benchmark:
        "benchmarks/estimate_baseline/{model}/{tensor}.tsv"
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
        estimators=" ".join(f"--estimator {s.full}" for s in SWEEP.estimators),
        seed=0,
        device=config["device"],
    shell:
        "OMP_NUM_THREADS={threads} embdim baseline random --like {input.measure}"
        " {params.estimators} --seed {params.seed}"
        " --device {params.device} --out {output} > {log} 2>&1"
