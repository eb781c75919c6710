# Offline demo: train the tiny GPT-NeoX with each optimizer in config["demo"]["runs"].
# results/demo/{run}/step{N}/model.safetensors are then swept like a Hub repo; train.json,
# written last, is the marker list_revisions waits for (SWEEP.demo_marker in common.smk).


rule train_demo_model:
    output:
        "results/demo/{run}/train.json",
    log:
        "logs/train_demo_model/{run}.log",
    benchmark:
        "benchmarks/train_demo_model/{run}.tsv"
    wildcard_constraints:
        run="|".join(config.get("demo", {}).get("runs", ["adam", "coupled_adam"])),
    conda:
        "../../envs/embdim.yaml"
    # One thread each: the tiny model gains little from a second one, so on 2 cores both runs
    # train side by side (Snakemake's --cores 2) in about half the time of one after the other.
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        steps=config.get("demo", {}).get("train_steps", 600),
        seed=config.get("demo", {}).get("seed", 0),
        batch_size=config.get("demo", {}).get("batch_size", 8),
        seq_len=config.get("demo", {}).get("seq_len", 64),
    shell:
        "embdim train-demo --out-dir results/demo/{wildcards.run} --optimizer {wildcards.run}"
        " --steps {params.steps} --seed {params.seed} --batch-size {params.batch_size}"
        " --seq-len {params.seq_len} --threads {threads} --json"
        " > {log} 2>&1"
