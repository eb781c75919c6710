# SPDX-License-Identifier: MIT
"""The workflow passes `snakemake --lint` and `snakefmt --check`."""
from __future__ import annotations

import shutil
import subprocess
import sys

from tests.workflow.conftest import REPO, case_config, make_workdir


def test_snakemake_lint_is_clean(tmp_path):
    wd = make_workdir(tmp_path / "wd", case_config("one_hub_model"))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=wd,
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Congratulations, your workflow is in a good condition!" in out, out


def test_snakefmt_is_clean():
    exe = shutil.which("snakefmt")
    assert exe, "snakefmt is not installed (pip install snakefmt)"
    files = [str(REPO / "Snakefile"), *map(str, sorted((REPO / "workflow/rules").glob("*.smk")))]
    proc = subprocess.run([exe, "--check", *files], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_rule_logs_benchmarks_and_has_the_conda_env():
    import yaml

    env = yaml.safe_load((REPO / "envs/embdim.yaml").read_text())
    names = " ".join(str(d) for d in env["dependencies"])
    for dep in ("python", "numpy", "faiss-cpu", "pytorch", "matplotlib", "pyyaml", "huggingface_hub", "pip"):
        assert dep in names, dep
    assert (REPO / "envs/embdim.post-deploy.sh").read_text().count("pip install") == 1
    for smk in (REPO / "workflow/rules").glob("*.smk"):
        text = smk.read_text()
        for block in text.split("\nrule ")[1:] + text.split("\ncheckpoint ")[1:]:
            name = block.split(":")[0]
            for directive in ("log:", "benchmark:", 'conda:\n        "../../envs/embdim.yaml"'):
                assert directive in block.split("\nrule ")[0], f"{smk.name}: {name} lacks {directive!r}"
