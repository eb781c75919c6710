# SPDX-License-Identifier: MIT
"""Where checkpoints come from: the Hub (ranged HTTP reads) or a local run directory.

- :mod:`.hub`: ``HubClient`` (API calls + one tensor read), holding a :class:`.rangeread.RangeReader`;
- :mod:`.rangeread`: ranged GETs with resume, redirects and integrity checks;
- :mod:`.retry`: the one retry/backoff policy (408/429/5xx, ``Retry-After``) both of them use;
- :mod:`.http`: the HTTP client configuration (timeouts, deadlines, byte counter, size caps);
- :mod:`.answers`: validation of Hub API answers;
- :mod:`.local`: local run directories (imports neither ``huggingface_hub`` nor ``httpx``);
- :mod:`.records`: what both sources share: the revisions.tsv row, shard resolution, ``FetchResult``;
- :mod:`.names`: strings from a server or a disk, checked before they are kept or shown.

Nothing is imported here, so ``embdim.sources.local`` stays free of the network stack.
"""
