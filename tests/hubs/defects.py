# SPDX-License-Identifier: MIT
"""Stand-in repos with the checkpoint defects reported upstream planted, and what the summary must
say about each (issue 13). Built from tests.fixtures' own writers, independently of embdim.

Every repo has the steps :data:`STEPS` (its last step, 1000, is its final checkpoint):

- ``EleutherAI/pythia-14m`` (pythia#83/#198): step1 is step0's blob, step2 holds step0's tensors in
  a torch ``.bin`` (another file, the same bytes);
- ``EleutherAI/pythia-2.8b`` (pythia#205): step2 and step1000 hold the final tensors in two
  different ``model.safetensors`` blobs (their metadata differ); step0/step1 are different blobs;
- ``EleutherAI/pythia-12b`` (pythia#206): sharded ``.bin`` + index; step2 serves the final shard 1
  (where embed_in lives) with its own shard 2;
- ``EleutherAI/pythia-160m-seed1`` / ``-seed2`` (pythia#203): seed2's step1 is seed1's step1;
  seed1's step2 branch holds no weights;
- ``allenai/OLMo-stage``: OLMo branch names ``stage{K}-step{N}-tokens{T}B``, one name that is
  no step (``stage1-step3-tokens6Bx``), tied weights (``model.embed_tokens.weight`` only);
- :func:`trainer_run_dir`: an HF Trainer output directory (``checkpoint-{N}/``, no step 0),
  GPT-2 names with the output matrix tied (``transformer.wte.weight`` only).
"""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path

from tests.fixtures import EMBED_IN, EMBED_OUT, checkpoint_files, pythia_like_tensors, safetensors_file

STEPS = [0, 1, 2, 1000]
VOCAB, DIM = 48, 12
M14, M28, M12 = "EleutherAI/pythia-14m", "EleutherAI/pythia-2.8b", "EleutherAI/pythia-12b"
SEED1, SEED2 = "EleutherAI/pythia-160m-seed1", "EleutherAI/pythia-160m-seed2"
OLMO = "allenai/OLMo-stage"
OLMO_NAMES = {0: "stage1-step0-tokens0B", 1: "stage1-step1-tokens2B", 2: "stage1-step2-tokens4B",
              1000: "stage2-step1000-tokens4000B"}
OLMO_EMBED = "model.embed_tokens.weight"
TRAINER_EMBED = "transformer.wte.weight"

# (model, step) -> (duplicate_of, duplicate_kind, same_as_final) for every planted defect; every
# other measured checkpoint is (None, None, step == 1000).
PLANTED = {
    (M14, 1): (0, "blob", False),
    (M14, 2): (0, "tensor", False),
    (M28, 2): (None, None, True),
    (M28, 1000): (2, "tensor", True),
    (M12, 2): (None, None, True),
    (M12, 1000): (2, "blob", True),
    (SEED2, 1): (f"{SEED1}@1", "blob", False),
}
# (model, step) -> issue of the Integrity section (duplicates, final weights, missing, no-weights)
ISSUES = {(M14, 1): "duplicate", (M14, 2): "duplicate", (M28, 2): "final-weights", (M28, 1000): "duplicate",
          (M12, 2): "final-weights", (M12, 1000): "duplicate", (SEED2, 1): "duplicate",
          (SEED1, 2): "no-weights"}  # + the trainer run's step 0: missing


def _tensors(seed: int) -> OrderedDict:
    return pythia_like_tensors(VOCAB, DIM, "F16", seed=seed)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def plant(hub) -> dict:
    """Put every repo on ``hub``; returns ``{model: {revision: {"step", "files", "tensors"}}}``."""
    out: dict = {}

    def add(repo, rev, step, files, tensors):
        hub.add_revision(repo, rev, files)
        out.setdefault(repo, {})[rev] = {"step": step, "files": files, "tensors": tensors}

    t0, t1000 = _tensors(10), _tensors(11)
    add(M14, "step0", 0, checkpoint_files(t0, "safetensors"), t0)
    add(M14, "step1", 1, checkpoint_files(t0, "safetensors"), t0)
    add(M14, "step2", 2, checkpoint_files(t0, "bin"), t0)
    add(M14, "step1000", 1000, checkpoint_files(t1000, "safetensors"), t1000)

    final = _tensors(22)
    for s, seed in ((0, 20), (1, 21)):
        t = _tensors(seed)
        add(M28, f"step{s}", s, checkpoint_files(t, "safetensors"), t)
    add(M28, "step2", 2, {"model.safetensors": safetensors_file(final, {"format": "pt", "saved": "later"})}, final)
    add(M28, "step1000", 1000, checkpoint_files(final, "safetensors"), final)

    final, other = _tensors(32), _tensors(33)
    for s, seed in ((0, 30), (1, 31)):
        t = _tensors(seed)
        add(M12, f"step{s}", s, checkpoint_files(t, "sharded-bin"), t)
    full, mixed = checkpoint_files(final, "sharded-bin"), checkpoint_files(other, "sharded-bin")
    shard1 = "pytorch_model-00001-of-00002.bin"
    add(M12, "step2", 2, {**mixed, shard1: full[shard1]}, OrderedDict(other, **{EMBED_IN: final[EMBED_IN]}))
    add(M12, "step1000", 1000, full, final)

    for repo, base in ((SEED1, 40), (SEED2, 50)):
        for s in STEPS:
            if repo == SEED1 and s == 2:
                add(repo, "step2", 2, {"README.md": b"weights were never uploaded\n"}, None)
                continue
            if repo == SEED2 and s == 1:
                shared = out[SEED1]["step1"]
                add(repo, "step1", 1, dict(shared["files"]), shared["tensors"])
                continue
            t = _tensors(base + s)
            add(repo, f"step{s}", s, checkpoint_files(t, "safetensors"), t)

    for s, name in OLMO_NAMES.items():
        t = olmo_tensors(60 + s)
        add(OLMO, name, s, {"model.safetensors": safetensors_file(t)}, t)
    t = olmo_tensors(99)
    add(OLMO, "stage1-step3-tokens6Bx", None, {"model.safetensors": safetensors_file(t)}, t)
    for repo, revs in out.items():  # main = the final checkpoint, as on the Hub
        last = revs[f"step{STEPS[-1]}" if repo != OLMO else OLMO_NAMES[STEPS[-1]]]
        hub.add_revision(repo, "main", last["files"])
    return out


def olmo_tensors(seed: int) -> OrderedDict:
    """OLMo's HF names with tied weights: no output matrix is stored."""
    t = _tensors(seed)
    return OrderedDict([(OLMO_EMBED, t[EMBED_IN]), ("model.norm.weight", t["gpt_neox.final_layer_norm.weight"])])


def trainer_run_dir(root: Path, steps=(1, 2, 1000)) -> dict[int, OrderedDict]:
    """An HF Trainer ``output_dir``: ``checkpoint-{N}/`` with model.safetensors, optimizer and
    trainer state, a ``runs/`` TensorBoard directory and a top-level config; GPT-2 names, tied."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"architectures": ["GPT2LMHeadModel"], "tie_word_embeddings": True}))
    (root / "runs" / "Dec01_00-00-00").mkdir(parents=True)
    (root / "runs" / "Dec01_00-00-00" / "events.out.tfevents.1.host").write_bytes(b"\x00" * 32)
    out = {}
    for s in steps:
        t = _tensors(70 + s)
        tensors = OrderedDict([(TRAINER_EMBED, t[EMBED_IN]), ("transformer.ln_f.weight",
                                                              t["gpt_neox.final_layer_norm.weight"])])
        d = root / f"checkpoint-{s}"
        d.mkdir()
        (d / "model.safetensors").write_bytes(safetensors_file(tensors))
        (d / "optimizer.pt").write_bytes(b"not read")
        (d / "trainer_state.json").write_text(json.dumps({"global_step": s}))
        (d / "training_args.bin").write_bytes(b"not read either")
        out[s] = tensors
    return out


def embed(tensors) -> bytes:
    """The input embedding's raw bytes of a planted checkpoint (any naming)."""
    for name in (EMBED_IN, OLMO_EMBED, TRAINER_EMBED):
        if name in tensors:
            return tensors[name].data
    raise KeyError("no input embedding")


def check_summary(rows: list[dict], planted: dict, trainer: dict, run: str, steps=STEPS) -> None:
    """The summary flags exactly the planted defects of the requested ``steps`` (and tokens, and the
    identity of every measured tensor, recomputed from the fixture's bytes)."""
    assert {(r["model"], r["step"]) for r in rows} == {(m, s) for m in [*planted, run] for s in steps}
    for r in rows:
        key = (r["model"], r["step"])
        got = (r["duplicate_of"], r["duplicate_kind"], r["same_as_final"])
        if r["status"] != "ok":
            assert got == (None, None, None), r
            continue
        want = PLANTED.get(key, (None, None, r["step"] == STEPS[-1]))
        assert got == want, (key, got, want)
        tensors = trainer[r["step"]] if r["model"] == run else \
            next(v for v in planted[r["model"]].values() if v["step"] == r["step"])["tensors"]
        assert r["tensor_sha256"] == sha(embed(tensors)), key
    tokens = {(r["model"], r["step"]): r["tokens"] for r in rows}
    for (model, step), t in tokens.items():  # OLMo's names carry them, else step x 2097152
        olmo = model == OLMO and step in OLMO_NAMES
        assert t == (int(OLMO_NAMES[step].split("tokens")[1][:-1]) * 10**9 if olmo else step * 2097152), (model, step)
    assert {r["revision"] for r in rows if r["model"] == run and r["status"] == "ok"} == \
        {f"checkpoint-{s}" for s in trainer if s in steps}


def expected_issues(models, run: str, steps=STEPS) -> dict:
    """(model, step) -> issue of the Integrity section, for a sweep of ``models`` + the trainer run."""
    out = {k: v for k, v in ISSUES.items() if k[0] in models and k[1] in steps}
    out.update({(m, s): "missing" for m in [*models, run] for s in steps if s not in STEPS})
    if 0 in steps:
        out[(run, 0)] = "missing"
    return out


__all__ = ["EMBED_OUT", "PLANTED", "ISSUES", "STEPS", "plant", "trainer_run_dir", "embed", "sha", "check_summary",
           "expected_issues"]
