# Gather every checkpoint's results into one table, then draw the figures.


rule summarize_sweep:
    input:
        tables=expand(rules.list_revisions.output.tsv, model=SWEEP.models),
        results=sweep_results,
    output:
        report(
            "results/summary.tsv",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        "logs/summarize_sweep/summarize_sweep.log",
    benchmark:
        "benchmarks/summarize_sweep/summarize_sweep.tsv"
    conda:
        "../../envs/embdim.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        args=summarize_args(),
    shell:
        "embdim summarize results {params.args} --out {output} > {log} 2>&1"


# One job per tensor, so each figure's caption can name its tensor ({{ snakemake.wildcards.tensor }}).
rule plot_dynamics:
    input:
        summary=rules.summarize_sweep.output,
        lid=lid_files,
    output:
        [
            report(
                f"results/plots/{{tensor}}/{name}.{ext}",
                caption=f"../report/{name}.rst",
                category="Dynamics",
                subcategory="{tensor}",
                labels={"figure": name, "tensor": "{tensor}", "format": ext},
            )
            for name in PLOTS
            for ext in ("png", "svg")
        ],
    log:
        "logs/plot_dynamics/{tensor}.log",
    benchmark:
        "benchmarks/plot_dynamics/{tensor}.tsv"
    conda:
        "../../envs/embdim.yaml"
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        x_axis=config["x_axis"],
    shell:
        "embdim plot {input.summary} --tensor {wildcards.tensor:q} --results results"
        " --out-dir results/plots --x-axis {params.x_axis} > {log} 2>&1"


# Every duplicate, final-weights, missing and no-weights step of the summary: the report's
# Integrity section.
rule report_integrity:
    input:
        rules.summarize_sweep.output,
    output:
        tsv=report(
            "results/integrity.tsv",
            caption="../report/integrity.rst",
            category="Integrity",
            labels={"table": "integrity", "format": "tsv"},
        ),
        html=report(
            "results/integrity.html",
            caption="../report/integrity.rst",
            category="Integrity",
            labels={"table": "integrity", "format": "html"},
        ),
    log:
        "logs/report_integrity/report_integrity.log",
    benchmark:
        "benchmarks/report_integrity/report_integrity.tsv"
    conda:
        "../../envs/embdim.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "embdim integrity {input} --out {output.tsv} --html {output.html} > {log} 2>&1"
