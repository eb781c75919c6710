# Static word embeddings, the paper's Table 3 and Table 1 (config["static"]; see config/static.yaml):
#   results/static/{tokenizer}/corpus.txt, corpus.json            tokenize_static_corpus
#   results/static/{tokenizer}/{algo}/vectors.bin, vectors.json   train_static_embedding
#   results/static/{tokenizer}/{algo}/measure.json, lid.npz       measure_static_embedding
#   results/static/vectors/{vname}/measure.json, lid.npz          measure_word_vectors
#   results/static/{vset}/baseline.json                           estimate_static_baseline
#   results/static/summary.tsv                                    summarize_static
#   results/static/table3.{png,svg}, table1.{png,svg}             plot_static
# Measuring is `embdim measure` with the sweep's estimator flags, as measure_checkpoint runs it.
import shlex

from embdim.static import settings as static_settings

STATIC = config.get("static") or {}
if STATIC:
    static_settings.check_static(STATIC, SWEEP.estimators)
STATIC_VECTORS = {v["name"]: v for v in STATIC.get("vectors", [])}
# the sweep's measure flags (estimators, bootstrap, k-curve, seed) plus the word sample
STATIC_MEASURE_ARGS = SWEEP.measure_args() + f" --sample {STATIC.get('sample', 10000)}"


wildcard_constraints:
    tokenizer="sentencepiece|bpe|whitespace",
    algo="word2vec|fasttext",
    vname="[A-Za-z0-9._-]+",
    vset="(sentencepiece|bpe|whitespace)/(word2vec|fasttext)|vectors/[A-Za-z0-9._-]+",


rule tokenize_static_corpus:
    output:
        corpus="results/static/{tokenizer}/corpus.txt",
        info="results/static/{tokenizer}/corpus.json",
    log:
        "logs/tokenize_static_corpus/{tokenizer}.log",
    benchmark:
        "benchmarks/tokenize_static_corpus/{tokenizer}.tsv"
    conda:
        "../../envs/embdim.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        corpus=STATIC.get("corpus", "python3-doc"),
        column=(
            ""
            if STATIC.get("corpus_column") is None
            else f"--column {shlex.quote(str(STATIC['corpus_column']))}"
        ),
        max_bytes=(
            ""
            if STATIC.get("corpus_bytes") is None
            else f"--max-bytes {STATIC['corpus_bytes']}"
        ),
        vocab_size=STATIC.get("vocab_size", 16000),
        seed=config["seed"],
    shell:
        "embdim static tokenize --corpus {params.corpus:q} {params.column} {params.max_bytes}"
        " --tokenizer {wildcards.tokenizer} --vocab-size {params.vocab_size}"
        " --seed {params.seed} --threads {threads} --out {output.corpus} > {log} 2>&1"


rule train_static_embedding:
    input:
        rules.tokenize_static_corpus.output.corpus,
    output:
        vectors="results/static/{tokenizer}/{algo}/vectors.bin",
        settings="results/static/{tokenizer}/{algo}/vectors.json",
    log:
        "logs/train_static_embedding/{tokenizer}/{algo}.log",
    benchmark:
        "benchmarks/train_static_embedding/{tokenizer}/{algo}.tsv"
    conda:
        "../../envs/embdim.yaml"
    threads: STATIC.get("workers", 2)
    resources:
        # FastText's n-gram table is bucket x ED float32, held twice while training
        mem_mb=lambda wc: 2000
        + (
            8
            * STATIC.get("gensim", {}).get("bucket", 2000000)
            * STATIC.get("vector_size", 300)
            // 1000000
            if wc.algo == "fasttext"
            else 0
        ),
        runtime=60,
    params:
        vector_size=STATIC.get("vector_size", 300),
        gensim=" ".join(
            f"--param {k}={v}"
            for k, v in STATIC.get("gensim", {}).items()
            if v is not None
        ),
        seed=config["seed"],
    shell:
        "embdim static train {input} --model {wildcards.algo}"
        " --vector-size {params.vector_size} {params.gensim} --seed {params.seed}"
        " --workers {threads} --out {output.vectors} > {log} 2>&1"


rule measure_static_embedding:
    input:
        rules.train_static_embedding.output.vectors,
    output:
        json="results/static/{tokenizer}/{algo}/measure.json",
        lid="results/static/{tokenizer}/{algo}/lid.npz",
    log:
        "logs/measure_static_embedding/{tokenizer}/{algo}.log",
    benchmark:
        "benchmarks/measure_static_embedding/{tokenizer}/{algo}.tsv"
    conda:
        "../../envs/embdim.yaml"
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        args=STATIC_MEASURE_ARGS,
        device=config["device"],
    shell:
        "OMP_NUM_THREADS={threads} embdim measure {input} --format word2vec-bin {params.args}"
        " --device {params.device} --threads {threads}"
        " --out {output.json} --lid-out {output.lid} > {log} 2>&1"


rule measure_word_vectors:
    input:
        lambda wc: STATIC_VECTORS[wc.vname]["path"],
    output:
        json="results/static/vectors/{vname}/measure.json",
        lid="results/static/vectors/{vname}/lid.npz",
    log:
        "logs/measure_word_vectors/{vname}.log",
    benchmark:
        "benchmarks/measure_word_vectors/{vname}.tsv"
    conda:
        "../../envs/embdim.yaml"
    threads: config["threads"]
    resources:
        # the whole file is read into memory before the sample is drawn
        mem_mb=lambda wc, input: int(2000 + 3 * input.size_mb),
        runtime=lambda wc, input: int(30 + input.size_mb / 100),
    params:
        args=STATIC_MEASURE_ARGS,
        format=lambda wc: STATIC_VECTORS[wc.vname].get("format", "auto"),
        device=config["device"],
    shell:
        "OMP_NUM_THREADS={threads} embdim measure {input:q} --format {params.format} {params.args}"
        " --device {params.device} --threads {threads}"
        " --out {output.json} --lid-out {output.lid} > {log} 2>&1"


# N(0, I) of the measured sample's shape (n_unique x ED), every estimator, seed 0.
rule estimate_static_baseline:
    input:
        "results/static/{vset}/measure.json",
    output:
        "results/static/{vset}/baseline.json",
    log:
        "logs/estimate_static_baseline/{vset}.log",
    benchmark:
        "benchmarks/estimate_static_baseline/{vset}.tsv"
    conda:
        "../../envs/embdim.yaml"
    threads: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        estimators=" ".join(f"--estimator {s.full}" for s in SWEEP.estimators),
        device=config["device"],
    shell:
        "OMP_NUM_THREADS={threads} embdim baseline random --like {input}"
        " {params.estimators} --seed 0 --device {params.device} --out {output} > {log} 2>&1"


rule summarize_static:
    input:
        static_settings.measurement_files(STATIC),
    output:
        report(
            "results/static/summary.tsv",
            caption="../report/static_summary.rst",
            category="Static embeddings",
        ),
    log:
        "logs/summarize_static/summarize_static.log",
    benchmark:
        "benchmarks/summarize_static/summarize_static.tsv"
    conda:
        "../../envs/embdim.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        args=static_settings.summarize_args(STATIC),
    shell:
        "embdim static summarize results/static {params.args} --out {output} > {log} 2>&1"


rule plot_static:
    input:
        rules.summarize_static.output,
    output:
        [
            report(
                f,
                caption="../report/static_tables.rst",
                category="Static embeddings",
                labels={"figure": os.path.basename(f)},
            )
            for f in static_settings.figure_files()
        ],
    log:
        "logs/plot_static/plot_static.log",
    benchmark:
        "benchmarks/plot_static/plot_static.tsv"
    conda:
        "../../envs/embdim.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "embdim static plot {input} --out-dir results/static > {log} 2>&1"
