"""E5 figure: paper Fig. 10 / A.4, the LTP of TD3 policies rolled out from replay-buffer
states against the states' collection time.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import save_figure, _styled


@_styled
def fig10_ltp_by_state(df: pd.DataFrame, env: str, out_png, out_pdf, dpi=150) -> None:
    """Fig. 10: LTP of the post-update distribution from buffer start states (x: the state's
    collection time, its replay index), one line per seed, averaged over the checkpoints
    whose buffer holds the state."""
    from ..analyses.start_states import average_over_checkpoints  # pandas only

    if df.empty:
        raise ValueError(f"no start-state rows for env {env!r}")
    avg = average_over_checkpoints(df)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    for seed, g in avg.groupby("seed"):
        ax.plot(g["buffer_index"], g["ltp"], marker="o", linewidth=1.2, label=f"seed {seed}")
    ax.set_xlabel("Collection time of the start state (index in the replay buffer)")
    ax.set_ylabel("Left-tail probability (mean over checkpoints)")
    top = max(float(np.nanmax(avg["ltp"])) if avg["ltp"].notna().any() else 0.0, 0.01)
    ax.set_ylim(-0.05 * top, 1.15 * top)
    n_ck = int(avg["n_checkpoints"].max())
    ax.set_title(f"Fig. 10: LTP from replay-buffer start states, {env}\n"
                 f"{int(df['n_samples'].iloc[0])} updates per state, up to {n_ck} checkpoints, horizon "
                 f"{int(df['horizon'].iloc[0])}", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(True, alpha=0.3)
    save_figure(fig, out_png, out_pdf, dpi=dpi)
