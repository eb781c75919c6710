# SPDX-License-Identifier: MIT
"""The workflow passes `snakemake --lint` and `snakefmt --check`."""
from __future__ import annotations

import shutil
import subprocess
import sys

from tests.workflow.conftest import REPO, make_workdir


def test_snakemake_lint_is_clean(tmp_path):
    wd = make_workdir(tmp_path / "wd", {"models": ["EleutherAI/pythia-14m"], "steps": [1000]})
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
