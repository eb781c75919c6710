# SPDX-License-Identifier: MIT
"""Offline demo: a tiny GPT-NeoX trained here with Adam or Coupled Adam, checkpointed like Pythia.

Modules: ``corpus`` (stdlib sources + BPE tokenizer), ``model`` (GPT-NeoX in plain torch with HF
tensor names), ``coupled_adam`` (the optimizer), ``train`` (loop, schedule, checkpoint writing).
torch and tokenizers are imported only by the modules that need them.
"""
