# SPDX-License-Identifier: MIT
"""``embdim static tokenize|train|summarize|plot``: the paper's Table 3 and Table 1 experiments
(static word embeddings), one step per subcommand (workflow/rules/static.smk runs them)."""
from __future__ import annotations

import argparse

from .options import add_output, command

EPILOG = """examples:
  embdim static tokenize --corpus python3-doc --max-bytes 3000000 --tokenizer sentencepiece \\
      --vocab-size 16000 --out results/static/sentencepiece/corpus.txt
  embdim static train results/static/sentencepiece/corpus.txt --model fasttext --param bucket=100000 \\
      --out results/static/sentencepiece/fasttext/vectors.bin
  embdim measure results/static/sentencepiece/fasttext/vectors.bin --sample 10000 --out measure.json
  embdim static summarize results/static --tokenizer sentencepiece --model fasttext --out summary.tsv
  embdim static plot results/static/summary.tsv --out-dir results/static

tokenize writes one document per line, tokens separated by spaces, and OUT.json beside it
(corpus source, bytes, sha256, tokenizer settings). train writes word2vec binary vectors and
OUT with .json in place of .bin: the gensim settings actually used (vector_size 300 unless set,
gensim's defaults otherwise), vocabulary, corpus tokens, train_seconds.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..static.corpus import TOKENIZERS
    from ..static.train import MODELS

    p = command(subparsers, "static", help="static word embeddings: tokenize, train, summarize, plot",
                description="The paper's Table 3 (Word2Vec/FastText x tokenizer) and Table 1 "
                            "(pretrained word vectors).", epilog=EPILOG)
    sub = p.add_subparsers(dest="static_command", metavar="STEP", required=True)
    t = sub.add_parser("tokenize", help="tokenize a corpus (sentencepiece, bpe or whitespace)")
    t.add_argument("--corpus", required=True, help="python3-doc (Debian's python3-doc), a .csv or a text file")
    t.add_argument("--column", default=None, help="CSV column: 0-based index or header name")
    t.add_argument("--max-bytes", type=int, default=None, help="read at most this many bytes of text")
    t.add_argument("--tokenizer", required=True, choices=TOKENIZERS)
    t.add_argument("--vocab-size", type=int, default=16000, help="sentencepiece/bpe vocabulary (default 16000)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1)
    add_output(t, metavar="CORPUS.txt", required=True,
               help="the tokenized corpus to write (atomically; its record beside it as .json)")
    t.set_defaults(func=run_tokenize)
    r = sub.add_parser("train", help="train Word2Vec or FastText on a tokenized corpus")
    r.add_argument("corpus", metavar="CORPUS.txt")
    r.add_argument("--model", required=True, choices=MODELS)
    r.add_argument("--vector-size", type=int, default=300, help="ED (default 300, the paper's)")
    r.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a gensim parameter (window, min_count, epochs, sg, negative, sample, "
                        "alpha, min_n, max_n, bucket, max_vocab_size); repeatable")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--workers", type=int, default=1)
    add_output(r, metavar="VECTORS.bin", required=True,
               help="the word2vec binary to write (atomically; settings beside it as .json)")
    r.set_defaults(func=run_train)
    s = sub.add_parser("summarize", help="results/static/summary.tsv (Table 3, then Table 1)")
    s.add_argument("root", metavar="RESULTS_STATIC")
    s.add_argument("--tokenizer", action="append", default=[], choices=TOKENIZERS)
    s.add_argument("--model", action="append", default=[], choices=MODELS)
    s.add_argument("--vectors", action="append", default=[], metavar="NAME")
    add_output(s, metavar="SUMMARY.tsv", required=True,
               help="the table to write (atomically)")
    s.set_defaults(func=run_summarize)
    g = sub.add_parser("plot", help="table3 and table1 figures (png, svg)")
    g.add_argument("summary", metavar="SUMMARY.tsv")
    g.add_argument("--out-dir", required=True)
    g.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    g.set_defaults(func=run_plot)
    return p


def run_tokenize(args) -> dict:
    from ..errors import InputError
    from ..io import atomic_write, write_json
    from ..static.corpus import load_corpus
    from ..static.tokenize import tokenize

    if not str(args.out).endswith(".txt"):
        raise InputError(f"--out {args.out}: expected a .txt path")
    column = int(args.column) if args.column is not None and args.column.isdigit() else args.column
    corpus = load_corpus(args.corpus, column, args.max_bytes)
    tokens, settings = tokenize(corpus.texts, args.tokenizer, args.vocab_size, args.seed, args.threads)
    lines = [" ".join(t) for t in tokens if t]
    atomic_write(args.out, ["\n".join(lines).encode("utf-8") + b"\n"])
    result = {"corpus": {"source": corpus.source, "documents": len(corpus.texts), "files": corpus.files,
                         "bytes": corpus.n_bytes, "sha256": corpus.sha256, "truncated": corpus.truncated,
                         "max_bytes": args.max_bytes, "column": column},
              "tokens": sum(len(t) for t in tokens), "types": len({x for t in tokens for x in t}),
              **settings}
    write_json(str(args.out)[:-4] + ".json", result)
    return result


def _params(items: list[str]) -> dict:
    from ..errors import InputError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--param {item}: expected NAME=VALUE")
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError as e:
                raise InputError(f"--param {item}: the value must be a number") from e
    return out


def run_train(args) -> dict:
    import os

    from ..errors import InputError
    from ..io import write_json
    from ..static.train import train_vectors

    if not str(args.out).endswith(".bin"):
        raise InputError(f"--out {args.out}: expected a .bin path (word2vec binary)")
    if not os.path.isfile(args.corpus):
        raise InputError(f"{args.corpus}: no such file")
    wv, settings = train_vectors(args.corpus, args.model, args.vector_size, args.seed,
                                 args.workers, _params(args.param))
    tmp = f"{args.out}.tmp"
    try:
        wv.save_word2vec_format(tmp, binary=True)  # gensim's own writer; renamed when complete
        os.replace(tmp, args.out)
    except BaseException:  # a failure or SIGTERM (SystemExit) leaves no half-written file
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    settings["vectors"] = str(args.out)
    write_json(str(args.out)[:-4] + ".json", settings)
    return settings


def run_summarize(args) -> dict:
    from ..io import atomic_write
    from ..static.table import collect, to_tsv

    rows = collect(args.root, args.tokenizer, args.model, args.vectors)
    atomic_write(args.out, [to_tsv(rows).encode("utf-8")])
    return {"rows": len(rows), "out": args.out}


def run_plot(args) -> dict:
    from ..static.figures import plot_static
    from ..static.table import read_tsv

    return {"figures": plot_static(read_tsv(args.summary), args.out_dir)}
