# SPDX-License-Identifier: MIT
"""The per-token figure: LID trajectories of chosen tokens over training (draws, never computes:
the values come from :class:`embdim.tokens.TokenTable`)."""
from __future__ import annotations

import io
import os

import numpy as np

from .plots import _step_axis, plt
from .io import atomic_write

# Tokens drawn per group (highest final LID, lowest final LID, frequent).
PER_GROUP = 5
GROUP_STYLE = {"highest final LID": "tab:red", "lowest final LID": "tab:blue",
               "frequent (first BPE merges)": "tab:gray"}


def token_trajectories(table, groups: dict[str, list[int]], title: str):
    """One panel per group, one line per token: its LID at each step (symlog step axis)."""
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 3.6), squeeze=False,
                             sharey=True)
    x = np.asarray(table.steps, dtype=float)
    for ax, (name, ids) in zip(axes.flat, groups.items()):
        for i in ids:
            ax.plot(x, table.lid[i], marker=".", lw=1.2, color=GROUP_STYLE.get(name),
                    alpha=0.35 + 0.65 * (1 - ids.index(i) / max(len(ids), 1)),
                    label=repr(table.tokens[i])[:24] + f" ({i})")
        ax.set_title(name)
        _step_axis(ax, log=True)
        ax.legend(fontsize=7, loc="best")
    axes.flat[0].set_ylabel(f"local ID ({table.key})")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_figure(fig, path: str | os.PathLike) -> None:
    """Write ``fig`` atomically in the format of ``path``'s suffix, then close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format=str(path).rsplit(".", 1)[-1], dpi=110)
    plt.close(fig)
    atomic_write(path, [buf.getvalue()])
