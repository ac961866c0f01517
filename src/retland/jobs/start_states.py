"""E5 (paper A.4, Fig. 10): the LTP of TD3 policies rolled out from replay-buffer states,
against the states' collection time.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .. import provenance
from ..provenance import write_csv
from ..runtime import log, setup_jax
from .sources import CheckpointSource, sample_key


def start_states_job(*, env: str, algo: str, train_paths: dict, start_states: dict, post_update: dict,
                     out_csv: str, config_record: dict | None = None) -> None:
    """E5: the LTP of every checkpoint of ``train_paths`` (seed -> training file) rolled out
    from ``n_states`` replay-buffer states fixed by collection time."""
    setup_jax()
    import jax

    from ..analyses import start_states as SS
    from ..rollout import chunked, pad_to

    t_job = time.time()
    K, N, horizon = int(start_states["n_states"]), int(start_states["n_samples"]), int(post_update["horizon"])
    per_call = max(1, min(K, int(post_update["chunk_size"]) // N))
    est, rows, backend = None, [], None
    total = len(train_paths)
    for i_seed, (seed, path) in enumerate(sorted(train_paths.items())):
        src = CheckpointSource(path)
        backend = src.attrs["backend"]
        if est is None:
            est = SS.make_start_state_estimator(src, horizon)
        # K states fixed by collection time: evenly spaced over the buffer at the last checkpoint
        last = src.checkpoint(src.steps[-1])  # read once: its buffer bounds now, its state in the loop
        lo_last, hi_last = last[1]
        idx_all = SS.buffer_indices(lo_last, hi_last, K)
        for step in src.steps:
            t0 = time.time()
            state, (lo, hi) = last if step == src.steps[-1] else src.checkpoint(step)
            held = SS.states_in_buffer(idx_all, lo, hi)
            if held.size == 0:
                log(f"[start_states] seed {seed} step {step}: none of the states is in the buffer [{lo}, {hi})")
                continue
            idx = idx_all[held]
            obs = src.replay.obs[idx]
            keys = jax.random.split(jax.random.fold_in(sample_key(int(start_states["sample_seed"]), seed, step), 1),
                                    K * N).reshape(K, N, -1)[held]
            rets = []
            for s, e in chunked(len(idx), per_call):
                r, _ = est(state, pad_to(keys[s:e], per_call), src.replay, lo, hi, pad_to(obs[s:e], per_call))
                rets.append(np.asarray(r[: e - s], np.float64))
            R = np.concatenate(rets)
            st = SS.state_stats(R)
            for j, k in enumerate(held):
                rows.append({"env": env, "algo": algo, "seed": seed, "step": step, "state": int(k),
                             "buffer_index": int(idx[j]),
                             "rel_pos": float(SS.relative_position(idx[j], lo_last, hi_last)),
                             "ltp": st["ltp"][j], "mode": st["mode"][j], "mean": st["mean"][j],
                             "n_samples": N, "horizon": horizon})
            log(f"[start_states] seed {seed} ({i_seed + 1}/{total}) step {step}: {len(idx)} states x {N} updates "
                f"in {time.time() - t0:.1f}s; mean LTP {np.nanmean(st['ltp']) if np.isfinite(st['ltp']).any() else float('nan'):.3f}")
    prov = provenance.record(config_record, backend=backend)
    write_csv(pd.DataFrame(rows), out_csv, prov)
    log(f"[start_states] {env} done in {time.time() - t_job:.1f}s")


def fig10_job(*, ltp_csv: str, env: str, out_png: str, out_pdf: str, dpi: int) -> None:
    """Paper Fig. 10: LTP from buffer start states against their collection time."""
    from ..plots.start_states import fig10_ltp_by_state

    fig10_ltp_by_state(pd.read_csv(ltp_csv), env, out_png, out_pdf, dpi=dpi)
