# SPDX-License-Identifier: MIT
"""A fixed token sample for hidden-state measurements (``embdim sample-text``).

The corpus (``pydoc``: the stdlib's ``pydoc_data.topics``, 465 kB of English on every Python;
``stdlib``: the demo's corpus; or a text FILE such as enwik8) is joined with ``"\\n\\n"`` between
documents, tokenised without special tokens (Pythia's data has no end-of-document token, so none
is inserted), cut into consecutive windows of ``seq_len`` tokens, and ``n_seq`` windows are drawn
without replacement with ``numpy.random.default_rng(seed)``, kept in stream order. The sample
records the corpus sha256 (of the joined UTF-8 text), the token ids and its own sha256 (of the
ids as little-endian int64, C order), so one file serves every size and step of a suite that
shares a tokenizer, and any result can be traced back to it.
"""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .io import atomic_write

CORPORA = ("pydoc", "stdlib")
# Text is tokenised in blocks of about this many characters, cut at a newline: a whole enwik8
# (100 MB) encoded at once would hold ~25 M Encoding objects (offsets, masks) in memory at once.
BLOCK_CHARS = 1 << 20
# Largest tokenizer.json accepted (Pythia's is 2.1 MB; the biggest common ones ~20 MB).
MAX_TOKENIZER_BYTES = 64 << 20
# Largest corpus FILE read (enwik9 is 1 GB; anything larger is not a sampling corpus).
MAX_CORPUS_BYTES = 1 << 30


@dataclass
class TokenSample:
    """A drawn sample: ``tokens`` (n_seq x seq_len int64) and where they came from."""

    tokens: np.ndarray
    windows: np.ndarray
    corpus: str
    corpus_sha256: str
    corpus_tokens: int
    tokenizer: str
    tokenizer_sha256: str
    seed: int

    @property
    def sample_sha256(self) -> str:
        return tokens_sha256(self.tokens)

    def to_dict(self) -> dict:
        n_seq, seq_len = self.tokens.shape
        return {"n_seq": int(n_seq), "seq_len": int(seq_len), "seed": self.seed,
                "corpus": self.corpus, "corpus_sha256": self.corpus_sha256,
                "corpus_tokens": self.corpus_tokens, "tokenizer": self.tokenizer,
                "tokenizer_sha256": self.tokenizer_sha256, "sample_sha256": self.sample_sha256}


def tokens_sha256(tokens: np.ndarray) -> str:
    """sha256 of token ids as little-endian int64 in C order (the sample's own checksum)."""
    return hashlib.sha256(np.ascontiguousarray(tokens, dtype="<i8").tobytes()).hexdigest()


def corpus_documents(corpus: str) -> list[str]:
    """The documents of a named corpus (``pydoc``, ``stdlib``) or of a text file (one document).

    Raises
    ------
    InputError
        Unknown name that is no readable file, or a file too large.
    """
    if corpus == "pydoc":
        from pydoc_data.topics import topics
        return [topics[k] for k in sorted(topics)]
    if corpus == "stdlib":
        from .demo.corpus import stdlib_corpus
        return stdlib_corpus().texts
    p = Path(corpus)
    if not p.is_file():
        raise InputError(f"--corpus {corpus}: neither {' nor '.join(CORPORA)} nor a readable file")
    if p.stat().st_size > MAX_CORPUS_BYTES:
        raise InputError(f"--corpus {corpus}: {p.stat().st_size} bytes is more than the "
                         f"{MAX_CORPUS_BYTES >> 20} MiB accepted")
    try:
        return [p.read_bytes().decode("utf-8", errors="replace")]
    except OSError as e:
        raise InputError(f"--corpus {corpus}: cannot read: {e.strerror or e}") from e


def _blocks(text: str, size: int = BLOCK_CHARS):
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind("\n", start, end)
            end = cut + 1 if cut > start else end
        yield text[start:end]
        start = end


def encode_text(tokenizer, text: str) -> np.ndarray:
    """Token ids of ``text`` without special tokens, encoded in newline-cut blocks."""
    ids = [np.asarray(e.ids, dtype=np.int64)
           for e in tokenizer.encode_batch(list(_blocks(text)), add_special_tokens=False)]
    return np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)


def load_tokenizer(source: str):
    """(tokenizers.Tokenizer, its JSON sha256) from a ``tokenizer.json``, a directory holding one
    (a demo run directory), or a Hub repo (its ``tokenizer.json`` at ``main``, read through
    :class:`embdim.sources.hub.HubClient` with its size and sha256 checks).

    Raises
    ------
    InputError, NotFoundError, HubError
    """
    from tokenizers import Tokenizer

    from .config import is_local_model

    p = Path(source)
    if p.is_dir():
        p = p / "tokenizer.json"
    if p.is_file():
        if p.stat().st_size > MAX_TOKENIZER_BYTES:
            raise InputError(f"--tokenizer {source}: larger than {MAX_TOKENIZER_BYTES >> 20} MiB")
        raw = p.read_bytes()
    elif is_local_model(source) or source.endswith(".json"):
        raise InputError(f"--tokenizer {source}: no tokenizer.json there")
    else:
        raw = _hub_tokenizer(source)
    try:
        tok = Tokenizer.from_str(raw.decode("utf-8"))
    except Exception as e:  # noqa: BLE001 - tokenizers raises plain Exception on bad JSON
        raise InputError(f"--tokenizer {source}: not a tokenizers JSON file "
                         f"({str(e).splitlines()[0][:200]})") from e
    return tok, hashlib.sha256(raw).hexdigest()


def _hub_tokenizer(repo: str, revision: str = "main") -> bytes:
    from .errors import NotFoundError
    from .sources.hub import HubClient, quiet_hub_logs

    quiet_hub_logs()
    client = HubClient()
    commit = client.resolve_commit(repo, revision)
    info = client.paths_info(repo, revision, ["tokenizer.json"]).get("tokenizer.json")
    if info is None:
        raise NotFoundError(f"{repo}@{revision}: no tokenizer.json", repo_id=repo, revision=revision)
    if info.size > MAX_TOKENIZER_BYTES:
        raise InputError(f"{repo}: tokenizer.json of {info.size} bytes is larger than "
                         f"{MAX_TOKENIZER_BYTES >> 20} MiB")
    return bytes(client.get_file(client.url(repo, "tokenizer.json", revision), info.size,
                                 sha256=info.sha256, git_oid=info.oid, commit=commit))


def sample_tokens(ids: np.ndarray, n_seq: int, seq_len: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_seq`` of the consecutive ``seq_len``-token windows of ``ids``, drawn without replacement
    (``default_rng(seed)``) and kept in stream order; returns (tokens, window start offsets).

    Raises
    ------
    InputError
        n_seq or seq_len < 1, or fewer windows than ``n_seq``.
    """
    if n_seq < 1 or seq_len < 1:
        raise InputError(f"--n-seq and --seq-len must be >= 1 (got {n_seq}, {seq_len})")
    n_windows = len(ids) // seq_len
    if n_windows < n_seq:
        raise InputError(f"the corpus has {len(ids)} tokens: {n_windows} windows of {seq_len}, "
                         f"fewer than --n-seq {n_seq}")
    pick = np.sort(np.random.default_rng(seed).choice(n_windows, size=n_seq, replace=False))
    starts = pick * seq_len
    return np.stack([ids[s:s + seq_len] for s in starts]).astype(np.int64), starts.astype(np.int64)


def draw_sample(corpus: str, tokenizer: str, n_seq: int, seq_len: int, seed: int = 0) -> TokenSample:
    """Read, join ("\\n\\n"), tokenise and sample a corpus (see the module docstring)."""
    tok, tok_sha = load_tokenizer(tokenizer)
    text = "\n\n".join(corpus_documents(corpus))
    ids = encode_text(tok, text)
    tokens, starts = sample_tokens(ids, n_seq, seq_len, seed)
    return TokenSample(tokens, starts, corpus, hashlib.sha256(text.encode("utf-8")).hexdigest(),
                       int(len(ids)), tokenizer, tok_sha, int(seed))


def write_sample(path: str | os.PathLike, s: TokenSample) -> None:
    """Write the sample as ``.npz`` (no pickled objects: ids as int64, strings as unicode arrays)."""
    meta = {k: np.asarray(v) for k, v in s.to_dict().items()}
    buf = io.BytesIO()
    np.savez(buf, tokens=s.tokens, windows=s.windows, **meta)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, [buf.getvalue()])


def read_tokens(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """(token ids n_seq x seq_len int64, metadata) from a sample ``.npz`` or an ``.npy`` of ids.

    The ``.npz`` metadata is checked against the ids (``sample_sha256``); an ``.npy`` gets its
    sample sha256 computed and no corpus sha256.

    Raises
    ------
    InputError
        Unreadable file, not 2-D integer ids, negative ids, a checksum that does not match.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"--tokens {path}: no such file")
    meta: dict = {}
    try:
        if p.suffix == ".npy":
            from .formats.npy import load_npy
            tokens = load_npy(p)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if "tokens" not in z.files:
                    raise InputError(f"--tokens {path}: no 'tokens' array")
                tokens = z["tokens"]
                for k in z.files:
                    if k not in ("tokens", "windows") and z[k].ndim == 0:
                        meta[k] = z[k].item()
        else:
            raise InputError(f"--tokens {path}: expected a sample .npz or an .npy of token ids")
    except (OSError, ValueError) as e:
        raise InputError(f"--tokens {path}: unreadable: {e}") from e
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer) or tokens.size == 0:
        raise InputError(f"--tokens {path}: expected 2-D integer token ids (n_seq x seq_len), got "
                         f"{tokens.dtype} {tuple(tokens.shape)}")
    if tokens.min() < 0:
        raise InputError(f"--tokens {path}: negative token id {int(tokens.min())}")
    tokens = tokens.astype(np.int64)
    sha = tokens_sha256(tokens)
    if meta.get("sample_sha256") not in (None, sha):
        raise InputError(f"--tokens {path}: the ids do not match the recorded sample_sha256")
    meta["sample_sha256"] = sha
    return tokens, meta
