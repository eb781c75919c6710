# SPDX-License-Identifier: MIT
"""embdim.summary / embdim summarize and embdim.plots / embdim plot on hand-written results:
missing and no-weights steps, duplicate blobs, pending results, geometry join, figures."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest

from embdim.config import model_slug
from embdim.plots import FIGURES, model_colors, parse_size, size_order
from embdim.summary import COLUMNS, read_summary, summarize, write_tsv

HEADER = "revision\tstep\tcommit\tfile\tblob_sha256\tstatus\n"
MODEL = "EleutherAI/pythia-70m"


def embdim(*args):
    return subprocess.run([sys.executable, "-c", "from embdim.cli import run; run()", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def results(tmp_path):
    """pythia-70m: step1000 ok, step2000 a copy of step1000's blob, step3000 without weights,
    step4000 absent, step5000 listed but not measured yet; main duplicates step2000."""
    d = tmp_path / "results" / model_slug(MODEL)
    d.mkdir(parents=True)
    (d / "revisions.tsv").write_text(HEADER + "".join([
        "step1000\t1000\t" + "a" * 40 + "\tmodel.safetensors\t" + "1" * 64 + "\tok\n",
        "step2000\t2000\t" + "b" * 40 + "\tmodel.safetensors\t" + "1" * 64 + "\tok\n",
        "step3000\t3000\t" + "c" * 40 + "\t\t\tno-weights\n",
        "step5000\t5000\t" + "e" * 40 + "\tmodel.safetensors\t" + "5" * 64 + "\tok\n",
        "main\t\t" + "f" * 40 + "\tmodel.safetensors\t" + "1" * 64 + "\tok\n",
    ]))
    for step, idv in ((1000, 20.5), (2000, 21.25)):
        r = d / "embed_in" / f"step{step}"
        r.mkdir(parents=True)
        estimates = [{"estimator": est, "k": k, "normalization": norm, "aggregate": agg,
                      "id": idv * scale, "redundancy": 0.9, "ci_low": idv * scale - 1,
                      "ci_high": idv * scale + 1, "se": 0.5, "bootstrap": 200,
                      "id_mean": idv * scale + 2 if est == "mle" else None, "id_median": None}
                     for est, k, norm, agg, scale in (("mle", 10, "k-1", "harmonic", 1.0),
                                                      ("twonn", 2, None, None, 0.5))]
        (r / "measure.json").write_text(json.dumps({
            "n": 50304, "n_unique": 50277, "ed": 512, "estimates": estimates,
            "knn": {"k_max": 10, "engine": "sym-fp32", "tiers": {"float32": 50277}},
            "id_vs_k": {"k": [2, 3, 4], "id": [idv + 3, idv + 2, idv + 1],
                        "normalization": "k-1", "aggregate": "harmonic"},
            "geometry": {"mean_cosine": step / 1e4, "isotropy": 0.5, "n": 50304, "d": 512},
            "provenance": {"tensor": "gpt_neox.embed_in.weight", "dtype": "F16",
                           "shape": [50304, 512]}}))
        np.savez(r / "lid.npz", lid_k10=np.linspace(idv - 5, idv + 5, 300),
                 twonn_mu=np.linspace(1, 2, 300), row=np.arange(300), unique_of=np.arange(300))
    return tmp_path / "results"


def test_rows_statuses_duplicates_and_geometry(results):
    rows = summarize(results, [MODEL], [1000, 2000, 3000, 4000, 5000], [("mle", 10), ("twonn", 2)])
    assert len(rows) == 10 and list(rows[0])[:len(COLUMNS)] == COLUMNS
    got = {(r["step"], r["estimator"]): r for r in rows}
    assert [got[(s, "mle")]["status"] for s in (1000, 2000, 3000, 4000, 5000)] == \
        ["ok", "ok", "no-weights", "missing", "pending"]
    assert got[(1000, "twonn")]["id"] == 10.25 and got[(2000, "mle")]["id"] == 21.25
    assert got[(1000, "mle")]["duplicate_of"] is None
    assert got[(2000, "mle")]["duplicate_of"] == 1000  # same blob sha256 as step1000
    assert got[(2000, "mle")]["commit"] == "b" * 40 and got[(2000, "mle")]["d"] == 512
    assert got[(2000, "mle")]["mean_cosine"] == 0.2 and got[(1000, "twonn")]["mean_cosine"] == 0.1
    assert got[(4000, "mle")]["revision"] is None and got[(4000, "mle")]["id"] is None
    one = got[(1000, "mle")]
    assert (one["tensor"], one["tensor_name"], one["normalization"], one["aggregate"]) == (
        "embed_in", "gpt_neox.embed_in.weight", "k-1", "harmonic")
    assert (one["ci_low"], one["ci_high"], one["se"], one["id_mean"]) == (19.5, 21.5, 0.5, 22.5)
    assert got[(1000, "twonn")]["normalization"] is None
    assert one["knn_engine"] == "sym-fp32" and got[(3000, "mle")]["knn_engine"] is None


def test_rows_per_tensor_and_convention(results):
    from embdim.estimators import parse_spec

    specs = [parse_spec("mle:10"), parse_spec("mle:10:k:mean"), parse_spec("twonn")]
    rows = summarize(results, [MODEL], [1000, 2000], specs, tensors=["embed_in", "embed_out"])
    assert len(rows) == 2 * 2 * 3  # model x tensor x step x estimator
    by = {(r["tensor"], r["step"], r["normalization"], r["estimator"]): r for r in rows}
    assert by[("embed_in", 1000, "k-1", "mle")]["status"] == "ok"
    assert by[("embed_in", 1000, "k", "mle")]["status"] == "pending"  # not in measure.json
    assert by[("embed_out", 2000, None, "twonn")]["status"] == "pending"  # not measured


def test_tsv_round_trip(results, tmp_path):
    rows = summarize(results, [MODEL], [1000, 4000], [("mle", 10)], geometry=False)
    write_tsv(rows, tmp_path / "s.tsv")
    back = read_summary(tmp_path / "s.tsv")
    assert back == rows
    assert "mean_cosine" not in back[0]


def test_summarize_cli(results, tmp_path):
    out = tmp_path / "summary.tsv"
    proc = embdim("summarize", str(results), "--model", MODEL, "--steps", "1000-4000:1000",
                  "--estimator", "mle:10", "--out", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["n_rows"] == 4 and res["status_counts"] == {"ok": 2, "no-weights": 1, "missing": 1}
    assert res["duplicates"] == 1 and out.read_text().startswith("model\ttensor\tstep\trevision\t")
    bad = embdim("summarize", str(results), "--model", MODEL, "--steps", "x", "--estimator", "mle:10")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    nolist = embdim("summarize", str(results), "--model", "EleutherAI/other", "--steps", "1",
                    "--estimator", "mle:10")
    assert nolist.returncode == 2 and "revisions.tsv" in nolist.stderr


def test_plot_cli_writes_every_figure(results, tmp_path):
    rows = summarize(results, [MODEL], [1000, 2000, 3000, 4000], [("mle", 10), ("twonn", 2)])
    write_tsv(rows, tmp_path / "s.tsv")
    proc = embdim("plot", str(tmp_path / "s.tsv"), "--results", str(results),
                  "--out-dir", str(tmp_path / "plots"), "--json")
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout)["files"]
    assert sorted(files) == sorted(str(tmp_path / "plots" / "embed_in" / f"{n}.{e}")
                                   for n in FIGURES for e in ("png", "svg"))
    for f in files:
        data = open(f, "rb").read()
        assert len(data) > 5000 and (data[:4] == b"\x89PNG" or b"<svg" in data[:2000])
    assert embdim("plot", str(tmp_path / "nope.tsv"), "--out-dir", str(tmp_path)).returncode == 2


def test_plots_survive_a_sweep_with_nothing_measured(tmp_path):
    rows = [dict(dict.fromkeys(COLUMNS), model=MODEL, step=1000, estimator="mle", k=10,
                 status="missing")]
    write_tsv(rows, tmp_path / "s.tsv")
    proc = embdim("plot", str(tmp_path / "s.tsv"), "--out-dir", str(tmp_path / "p"), "--format", "png")
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "p" / "embed_in").glob("*.png"))) == len(FIGURES)


def test_models_are_coloured_in_size_order():
    models = ["EleutherAI/pythia-1b", "results/demo/adam", "EleutherAI/pythia-14m",
              "EleutherAI/pythia-160m-deduped"]
    assert parse_size("EleutherAI/pythia-1.4b") == 1.4e9 and parse_size("results/demo/adam") is None
    assert size_order(models) == ["EleutherAI/pythia-14m", "EleutherAI/pythia-160m-deduped",
                                  "EleutherAI/pythia-1b", "results/demo/adam"]
    colors = model_colors(models)
    assert len(set(colors.values())) == 4


def _write_baselines(results, model, values):
    d = results / model_slug(model) / "embed_in"
    estimates = [{"estimator": est, "k": k, "normalization": "k-1" if est == "mle" else None,
                  "aggregate": "harmonic" if est == "mle" else None, "id": idv}
                 for (est, k), idv in values.items()]
    (d / "baseline.json").write_text(json.dumps({"n": 50277, "dim": 512, "seed": 0,
                                                 "estimates": estimates}))


def test_baseline_id_joined_per_model_and_estimator(results):
    _write_baselines(results, MODEL, {("mle", 10): 99.5})  # no twonn baseline (yet)
    rows = summarize(results, [MODEL], [1000, 4000], [("mle", 10), ("twonn", 2)], baseline=True)
    assert list(rows[0])[-1] == "baseline_id"
    got = {(r["step"], r["estimator"]): r["baseline_id"] for r in rows}
    assert got == {(1000, "mle"): 99.5, (4000, "mle"): 99.5, (1000, "twonn"): None,
                   (4000, "twonn"): None}
    assert "baseline_id" not in summarize(results, [MODEL], [1000], [("mle", 10)])[0]


def test_final_id_vs_size_draws_each_baseline_once_labelled(results, tmp_path):
    from embdim.plots import BASELINE_LABEL, final_id_vs_size

    other = "EleutherAI/pythia-14m"
    shutil.copytree(results / model_slug(MODEL), results / model_slug(other))
    _write_baselines(results, MODEL, {("mle", 10): 99.5, ("twonn", 2): 77.25})
    _write_baselines(results, other, {("mle", 10): 60.0, ("twonn", 2): 40.5})
    proc = embdim("summarize", str(results), "--model", other, "--model", MODEL, "--steps",
                  "1000,2000", "--estimator", "mle:10", "--estimator", "twonn:2", "--baseline",
                  "--out", str(tmp_path / "s.tsv"))
    assert proc.returncode == 0, proc.stderr
    fig = final_id_vs_size(read_summary(tmp_path / "s.tsv"))
    ax = fig.axes[0]
    handles, labels = ax.get_legend_handles_labels()
    assert labels.count(BASELINE_LABEL) == 1
    assert BASELINE_LABEL in [t.get_text() for t in ax.get_legend().get_texts()]
    # the baseline markers: single grey points at each model's size, one per estimator
    points = sorted(tuple(map(float, off)) for c in ax.collections if _is_grey_point(c)
                    for off in c.get_offsets())
    assert points == [(14e6, 40.5), (14e6, 60.0), (70e6, 77.25), (70e6, 99.5)]
    plt.close(fig)


def _is_grey_point(coll) -> bool:
    import matplotlib.colors as mcolors
    import numpy as np

    colors = coll.get_facecolor() if len(coll.get_facecolor()) else coll.get_edgecolor()
    grey = np.allclose(colors[:, :3], mcolors.to_rgb("grey"))
    return grey and len(coll.get_offsets()) == 1


def test_no_baseline_no_marker(results):
    from embdim.plots import BASELINE_LABEL, final_id_vs_size

    fig = final_id_vs_size(summarize(results, [MODEL], [1000], [("mle", 10)]))
    assert BASELINE_LABEL not in fig.axes[0].get_legend_handles_labels()[1]
    plt.close(fig)


def test_ci_bands_lid_histograms_and_id_vs_k(results):
    from embdim.plots import id_vs_k, id_vs_step, lid_histograms
    from embdim.summary import read_measure_extras

    rows = summarize(results, [MODEL], [1000, 2000, 3000], [("mle", 10), ("twonn", 2)])
    fig = id_vs_step(rows)
    assert len(fig.axes[0].collections) == 2  # one CI band per estimator
    assert "embed_in" in fig._suptitle.get_text()
    extras = read_measure_extras(results, rows, "lid_k10")
    assert sorted(k[2] for k in extras) == [1000, 2000] and len(extras[(MODEL, "embed_in", 1000)]["lid"]) == 300
    h = lid_histograms(rows, extras)
    assert [t.get_text() for t in h.axes[0].get_legend().get_texts()] == ["step 1000", "step 2000"]
    assert "k-1, harmonic" in h._suptitle.get_text()
    c = id_vs_k(rows, extras)
    assert [ln.get_ydata().tolist() for ln in c.axes[0].lines] == [[23.5, 22.5, 21.5], [24.25, 23.25, 22.25]]
    for f in (fig, h, c):
        plt.close(f)
