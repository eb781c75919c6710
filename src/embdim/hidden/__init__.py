# SPDX-License-Identifier: MIT
"""Hidden states layer by layer: the forward pass (:mod:`.forward`), the per-layer measurement
(:mod:`.layers`, :mod:`.normvar`), the full-checkpoint fetch (:mod:`.checkpoint`) and the
``layers.tsv`` table (:mod:`.table`)."""
