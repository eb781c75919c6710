# SPDX-License-Identifier: MIT
"""Checkpoint formats, read with no network access: every reader takes ``read_range(start, end)``.

- :mod:`.records`: the dtype table, ``ReadRange`` and ``TensorInfo`` (where a tensor's bytes are);
- :mod:`.safe`, :mod:`.view`: the bounds-checked reader every parser reads through, and the view checks;
- :mod:`.safetensors`, :mod:`.torchzip` (+ :mod:`.unpickle`), :mod:`.npy`: the leaf parsers;
- :mod:`.layout`: weight-file names, index json, tensor aliases, and one tensor located and read.

Nothing here imports ``huggingface_hub`` or ``httpx`` (``tests/unit/test_imports.py`` checks it).
"""
