# SPDX-License-Identifier: MIT
"""Issue 13 through the real CLI: --rows tokenizer on measure / estimate / geometry (the planted
case: a tokenizer with fewer tokens than rows), the missing-tokenizer error, embdim tokens
(tokens.tsv checked against lid.npz, escaping on disk, figure, top-20 table) and
embdim fetch-tokenizer (Hub stand-in: once per blob; a local run)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from embdim import estimate
from embdim.formats.tokenizer import decode_tokens, unescape_tsv
from embdim.geometry import compute_geometry
from embdim.measure import measure
from tests.cli.test_estimate_cli import embdim, write_st
from tests.fixtures import hub_env
from tests.hubs.hubserver import FakeHub
from tests.tokfix import NASTY, bpe_tokenizer_json, padded_matrix

PAD = 15  # padding rows after the tokenizer's tokens


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """run/tokenizer.json (n tokens) and run/step{0,100}/e.safetensors with n + PAD rows."""
    root = tmp_path_factory.mktemp("run")
    raw, n = bpe_tokenizer_json()
    (root / "tokenizer.json").write_bytes(raw)
    for i, step in enumerate((0, 100)):
        (root / f"step{step}").mkdir()
        X = padded_matrix(n, PAD, seed=i)
        write_st(root / f"step{step}/e.safetensors", {"gpt_neox.embed_in.weight": ("F16", X)})
        np.save(root / f"step{step}/cut.npy", X[:n])  # the sliced matrix, for the references
    return root, raw, n


def js(p):
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_rows_tokenizer_equals_the_sliced_matrix(run, tmp_path):
    root, raw, n = run
    f, cut = root / "step0/e.safetensors", root / "step0/cut.npy"
    m = js(embdim("measure", f, "--rows", "tokenizer", "--device", "cpu", "--bootstrap", "10",
                  "--k-curve", "0", "--json", "--lid-out", tmp_path / "lid.npz"))
    Xc = np.load(cut)  # the sliced matrix, measured in-process for the reference
    mr = json.loads(json.dumps(measure(Xc, bootstrap=10, k_curve=0, device="cpu").result))
    assert (m["n_rows_total"], m["n"], m["n_unique"]) == (n + PAD, n, n)
    assert (m["rows"], m["n_tokens"], m["tokenizer"]) == ("tokenizer", n, str(root / "tokenizer.json"))
    assert m["estimates"] == mr["estimates"] and m["geometry"] == mr["geometry"]
    with np.load(tmp_path / "lid.npz") as z:
        assert len(z["lid_k10"]) == n + PAD and np.isnan(z["lid_k10"][n:]).all()
    full = js(embdim("measure", f, "--device", "cpu", "--bootstrap", "0", "--k-curve", "0", "--json"))
    assert (full["rows"], full["n_rows_total"], full["n"], full["n_unique"]) == ("all", n + PAD, n + PAD, n + 1)
    refs = {"estimate": estimate(Xc, "mle", k=10, device="cpu").to_dict(),
            "geometry": compute_geometry(Xc).to_dict()}
    for cmd in ("estimate", "geometry"):
        e = js(embdim(cmd, f, "--rows", "tokenizer", "--tokenizer", root / "tokenizer.json", "--json"))
        assert (e["n_rows_total"], e["n"], e["n_unique"]) == (n + PAD, n, n)
        keys = ["id"] if cmd == "estimate" else ["mean_cosine", "isotropy", "effective_rank"]
        for key in keys:
            assert e[key] == pytest.approx(refs[cmd][key], rel=1e-12)


def test_rows_tokenizer_without_a_tokenizer_is_a_clear_error(tmp_path):
    X = padded_matrix(50, 5)
    f = tmp_path / "e.safetensors"
    write_st(f, {"gpt_neox.embed_in.weight": ("F32", X)})
    for cmd in ("measure", "estimate", "geometry"):
        p = embdim(cmd, f, "--rows", "tokenizer", "--out", tmp_path / "o.json")
        assert p.returncode == 2 and "no tokenizer.json" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
        assert not (tmp_path / "o.json").exists()
    p = embdim("measure", f, "--rows", "tokenizer", "--tokenizer", tmp_path / "nope.json")
    assert p.returncode == 2 and "nope.json: no such file" in p.stderr


def test_tokens_table_figure_and_top20(run, tmp_path):
    root, raw, n = run
    tensor_dir = tmp_path / "results/m/embed_in"
    for step in (0, 100):
        d = tensor_dir / f"step{step}"
        d.mkdir(parents=True)
        js(embdim("measure", root / f"step{step}/e.safetensors", "--rows", "tokenizer", "--tokenizer",
                  root / "tokenizer.json", "--device", "cpu", "--bootstrap", "0", "--k-curve", "0",
                  "--estimator", "mle:5", "--estimator", "mle:10", "--json", "--lid-out", d / "lid.npz"))
    (tensor_dir / "step100/tokenizer.json").write_bytes(raw)  # found by default (the last step's)
    r = js(embdim("tokens", tensor_dir, "--figure", tmp_path / "f.png", "--top-out", tmp_path / "t.html",
                  "--json"))
    assert r["out"] == str(tensor_dir / "tokens.tsv") and r["key"] == "lid_k5"  # the first MLE
    assert (r["n_tokens"], r["n_rows"], r["steps"]) == (n, n + PAD, [0, 100])
    lines = (tensor_dir / "tokens.tsv").read_bytes().decode("utf-8").split("\n")
    assert lines[-1] == "" and len(lines) == n + 2  # header + one line per token, nothing split
    assert lines[0].split("\t") == ["token_id", "token", "lid_step0", "lid_step100"] == r["columns"]
    tokens = decode_tokens(raw, n)
    lids = {}
    for step in (0, 100):
        with np.load(tensor_dir / f"step{step}/lid.npz") as z:
            lids[step] = z["lid_k5"]
    for i, line in enumerate(lines[1:-1]):
        cells = line.split("\t")
        assert len(cells) == 4 and cells[0] == str(i) and unescape_tsv(cells[1]) == tokens[i]
        assert [float(c) for c in cells[2:]] == [lids[0][i], lids[100][i]]
    cells = {unescape_tsv(ln.split("\t")[1]) for ln in lines[1:-1]}
    assert set(NASTY) <= cells
    assert "tab\\there" in lines[n - len(NASTY) + 1 + NASTY.index("tab\there")]
    assert (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")
    html = (tmp_path / "t.html").read_text()
    assert html.count("<tr><td>") == 4 * 20 and "step 0: 20 highest LID" in html and "step 100: 20 lowest" in html
    last = r["extremes"][-1]
    assert last["step"] == 100 and [e["lid"] for e in last["highest"]] == sorted(lids[100][:n])[::-1][:20]
    p = embdim("tokens", tmp_path / "results/m", "--json")  # no step<N>/lid.npz there
    assert p.returncode == 2 and json.loads(p.stdout)["error"]["exit_code"] == 2


def test_fetch_tokenizer_once_per_blob_and_local(run, tmp_path):
    root, raw, n = run
    other, n2 = bpe_tokenizer_json(vocab_size=270, nasty=False)
    with FakeHub() as hub:
        for rev, tok in (("step1", raw), ("step2", raw), ("step3", other)):
            hub.add_revision("org/m", rev, {"tokenizer.json": tok, "config.json": b"{}"})
        hub.add_revision("org/m", "step4", {"config.json": b"{}"})
        env = hub_env(hub, tmp_path / "hf")
        cache = tmp_path / "cache"
        got = []
        for rev in ("step1", "step2", "step3", "step1"):
            out = tmp_path / f"{rev}.json"
            got.append(js(embdim_env(env, "fetch-tokenizer", "org/m", "--revision", rev, "--out", out,
                                     "--cache", cache, "--json")))
            assert out.read_bytes() == (other if rev == "step3" else raw)
        assert [g["n_tokens"] for g in got] == [n, n, n2, n]
        assert [g["cached"] for g in got] == [False, True, False, True]
        assert hub.count("/resolve/", "GET") == 2  # one download per blob
        p = embdim_env(env, "fetch-tokenizer", "org/m", "--revision", "step4", "--out", tmp_path / "x.json")
        assert p.returncode == 3 and "no tokenizer.json" in p.stderr and not (tmp_path / "x.json").exists()
    r = js(embdim("fetch-tokenizer", root, "--revision", "step0", "--out", tmp_path / "l.json", "--json"))
    assert r["source"] == str(root / "tokenizer.json") and r["n_tokens"] == n
    assert (tmp_path / "l.json").read_bytes() == raw


def embdim_env(env, *args):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-c", "import sys; from embdim.cli import main; sys.exit(main())",
                           *map(str, args)], capture_output=True, text=True, timeout=300, env=env)
