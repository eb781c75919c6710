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
    shell:
        "embdim plot {input.summary} --tensor {wildcards.tensor:q} --results results"
        " --out-dir results/plots > {log} 2>&1"
