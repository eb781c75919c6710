# SPDX-License-Identifier: MIT
"""Static word embeddings (the paper's Table 1 and Table 3): corpus, tokenizers, training, tables."""
