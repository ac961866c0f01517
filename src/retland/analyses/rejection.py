"""E8 / E9: post-update CVaR rejection (paper Sec. 4.2, Algorithm 1, App. A.9-A.10; Fig. 7, 24,
25, 26).

Algorithm 1, as the paper writes it, from a checkpoint (theta, critic, optimizer state and
the replay buffer as it was at that checkpoint). Each iteration:

1. draw N post-update returns of the current agent (``R(theta)``: N independent
   post-update steps u(theta, X), each rolled out deterministically from s_I);
2. propose one TD3 training step: one environment step of the behaviour policy stored in
   the replay buffer, then one full TD3 update (critic, actor, targets) on a fresh
   minibatch B (the authors' code, ``improve_ltp/experiments/td3_reject_ltp.py``);
3. draw N post-update returns of the proposed agent (``R(theta')``);
4. accept iff CVaR_alpha(R(theta')) >= (1 - delta) CVaR_alpha(R(theta)), with
   ``stats.cvar`` (docs/design.md, section 1); on rejection the networks, the optimizer states
   and the replay buffer return to their state before the proposal (the environment the
   behaviour policy acts in keeps going, as in the authors' code).

The baseline ("plain TD3") makes the same 40 proposals unconditionally from the same start
with the same keys for its environment steps and updates. PURD mean, LTP and CVaR of the
agent held after every iteration are logged; iteration 0 is the shared start estimate.
CVaR level 0.1 and 40 iterations are the paper's; N and delta are settings (the paper
does not give them; its code uses delta = 0).

Generic over agents that provide ``explore(state, obs, key, cfg, act_dim)`` and
``full_update(state, key, replay, lo, hi, cfg, act_dim)`` besides the post-update
interface; by protocol the experiment runs TD3.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

from .. import stats as S

METHODS = ("rejection", "td3")


# ---------------------------------------------------------------------------------------
# numpy: start policies, the acceptance test, summaries
# ---------------------------------------------------------------------------------------
def select_start_policies(stats: pd.DataFrame, env: str, algo: str, n_starts: int, seed: int) -> pd.DataFrame:
    """Start policies of Algorithm 1: policies in a noisy neighbourhood (finite LTP > 0,
    positive mean), ``n_starts`` drawn uniformly without replacement (seeded by ``seed``
    and ``env``); when fewer exist, all of them plus randomly drawn policies with a finite
    LTP (``noisy = False``). Sorted by (seed, step)."""
    if n_starts < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    df = stats[(stats["env"] == env) & (stats["algo"] == algo)].reset_index(drop=True)
    if df.empty:
        raise ValueError(f"no {algo} policies of {env!r} in the post-update statistics table")
    rng = np.random.default_rng([int(seed)] + [ord(c) for c in env])
    ltp = df["ltp"].to_numpy(float)
    noisy = np.flatnonzero(np.isfinite(ltp) & (ltp > 0) & (df["mean"].to_numpy(float) > 0))
    other = np.setdiff1d(np.flatnonzero(np.isfinite(ltp)), noisy)
    pick = list(rng.choice(noisy, size=min(n_starts, len(noisy)), replace=False))
    if len(pick) < n_starts and len(other):
        pick += list(rng.choice(other, size=min(n_starts - len(pick), len(other)), replace=False))
    if not pick:
        raise ValueError(f"no {algo} policy of {env!r} has a defined LTP (all modes <= 0)")
    out = df.loc[pick, ["env", "algo", "seed", "step", "mean", "std", "ltp"]].copy()
    out["noisy"] = [i in set(noisy) for i in pick]
    return out.sort_values(["seed", "step"]).reset_index(drop=True)


def cvar_accept(r_current, r_proposed, alpha: float, delta: float) -> bool:
    """Algorithm 1's test: CVaR_alpha(R(theta')) >= (1 - delta) CVaR_alpha(R(theta))."""
    return bool(S.cvar(r_proposed, alpha) >= (1.0 - delta) * S.cvar(r_current, alpha))


def purd_row(returns, alpha: float) -> dict:
    """PURD mean / LTP / CVaR_alpha of one sample (``stats`` definitions)."""
    return {"purd_mean": S.mean(returns), "purd_ltp": S.ltp(returns),
            f"purd_cvar_{alpha:g}": S.cvar(returns, alpha)}


def ltp_reductions(log: pd.DataFrame) -> pd.DataFrame:
    """One row per (env, seed, step, run_index, method): start LTP (iteration 0) minus the
    LTP after the last iteration, and the rejection frequency of the proposals."""
    keys = ["env", "seed", "step", "run_index", "method"]
    rows = []
    for k, g in log.sort_values("iteration").groupby(keys):
        steps = g[g["iteration"] > 0]
        rows.append(dict(zip(keys, k), ltp_start=float(g["purd_ltp"].iloc[0]),
                         ltp_end=float(g["purd_ltp"].iloc[-1]),
                         mean_start=float(g["purd_mean"].iloc[0]), mean_end=float(g["purd_mean"].iloc[-1]),
                         rejection_frequency=float(1.0 - steps["accepted"].astype(float).mean())))
    out = pd.DataFrame(rows)
    out["ltp_reduction"] = out["ltp_start"] - out["ltp_end"]
    return out


def ltp_reduction_summary(log: pd.DataFrame, reps: int, ci: float, seed: int) -> pd.DataFrame:
    """``method, mean, lo, hi``: mean LTP reduction per method with rliable CIs
    (environments as tasks); plus ``rejection_minus_td3``, the paired difference."""
    from ..stats import group_means_ci, rliable_mean_ci

    red = ltp_reductions(log)
    out = group_means_ci(red, "method", "ltp_reduction", METHODS, reps, ci, seed)
    out["n"] = out.pop("n_defined") + out.pop("n_undefined")
    rows = out.to_dict("records")
    piv = red.pivot_table(index=["env", "seed", "step", "run_index"], columns="method",
                          values="ltp_reduction").reset_index()
    if set(METHODS) <= set(piv.columns):
        diff = piv["rejection"] - piv["td3"]
        by_env = {e: diff[piv["env"] == e].to_numpy(float) for e in piv["env"].unique()}
        m, lo, hi = rliable_mean_ci(by_env, reps, ci, seed + len(METHODS))
        rows.append({"method": "rejection_minus_td3", "mean": m, "lo": lo, "hi": hi, "n": len(piv)})
    return pd.DataFrame(rows)


def rejection_frequency(log: pd.DataFrame) -> pd.DataFrame:
    """Fig. 26: per environment, mean rejection frequency of Algorithm 1 over (start policy,
    run) and its standard error (ddof=1; 0 with a single run)."""
    red = ltp_reductions(log[log["method"] == "rejection"])
    rows = []
    for env, g in red.groupby("env"):
        f = g["rejection_frequency"].to_numpy(float)
        se = float(np.std(f, ddof=1) / np.sqrt(len(f))) if len(f) > 1 else 0.0
        rows.append({"env": env, "mean": float(f.mean()), "se": se, "n": len(f)})
    return pd.DataFrame(rows)


def cvar_ranking(stats: pd.DataFrame, returns_of: Callable, alphas) -> pd.DataFrame:
    """Fig. 25: CVaR_alpha (``stats.cvar``) of every policy's stored post-update returns for
    each alpha, and its rank within the environment (1 = highest CVaR)."""
    df = stats[["suite", "env", "algo", "seed", "step", "mean", "ltp"]].copy().reset_index(drop=True)
    rets = [returns_of(r) for r in df.itertuples(index=False)]
    for a in alphas:
        col = f"cvar_{a:g}"
        df[col] = [S.cvar(r, a) for r in rets]
        df[f"rank_{a:g}"] = df.groupby(["env", "algo"])[col].rank(ascending=False, method="first")
    return df


# ---------------------------------------------------------------------------------------
# JAX: Algorithm 1
# ---------------------------------------------------------------------------------------
class Buffer(NamedTuple):
    """The replay buffer of one Algorithm 1 run: ``data`` holds the training log with room
    for the new transitions appended at row ``hi``; the live window is rows [lo, hi)."""

    data: object
    lo: object
    hi: object


class Carry(NamedTuple):
    agent: object  # agent state: networks, targets, optimizer states
    buffer: Buffer
    env_state: object  # the behaviour policy's environment (not reverted on rejection)
    ep_t: object


def working_buffer(replay, lo: int, hi: int, n_new: int) -> Buffer:
    """Rows [lo, hi) of the training log are the buffer at the checkpoint; later log rows
    are never sampled, and new transitions overwrite rows hi, hi + 1, ... of a copy that has
    ``n_new`` spare rows at its end."""
    import jax
    import jax.numpy as jnp

    data = jax.tree_util.tree_map(
        lambda x: jnp.concatenate([x, jnp.zeros((n_new,) + x.shape[1:], x.dtype)]), replay)
    return Buffer(data, jnp.int32(lo), jnp.int32(hi))


def make_propose(agent, env, cfg):
    """Jitted ``propose(carry, key) -> carry``: one environment step of the behaviour
    policy (stored in the buffer; the episode restarts on termination or time limit), then
    one full training update on a fresh minibatch of the buffer."""
    import jax
    import jax.numpy as jnp

    from ..base.replay import Transition

    for fn in ("explore", "full_update"):
        if not hasattr(agent, fn):
            raise ValueError(f"agent {agent.NAME!r} has no {fn}(): Algorithm 1 needs its full training step")
    act_dim = env.spec.act_dim
    capacity = int(getattr(cfg, "buffer_size", 1 << 62))

    def propose(c: Carry, key):
        k_act, k_reset, k_upd = jax.random.split(key, 3)
        obs = env.obs(c.env_state)
        action = agent.explore(c.agent, obs, k_act, cfg, act_dim)
        nxt = env.step(c.env_state, action)
        term = env.done(nxt).astype(jnp.float32)
        tr = Transition(obs, action, env.reward(nxt), env.obs(nxt), term)
        b = c.buffer
        data = jax.tree_util.tree_map(lambda buf, x: buf.at[b.hi].set(x), b.data, tr)
        hi = b.hi + 1
        buffer = Buffer(data, jnp.maximum(b.lo, hi - capacity), hi)
        ep_t = c.ep_t + 1
        end = (term > 0) | (ep_t >= env.episode_length)
        fresh = env.reset(k_reset)
        env_state = jax.tree_util.tree_map(lambda f, n: jnp.where(end, f, n), fresh, nxt)
        new_agent = agent.full_update(c.agent, k_upd, data, buffer.lo, buffer.hi, cfg, act_dim)
        return Carry(new_agent, buffer, env_state, jnp.where(end, 0, ep_t))

    return jax.jit(propose)


def algorithm1_step(carry: Carry, key, propose, estimate, decide) -> tuple[Carry, bool, np.ndarray, np.ndarray]:
    """One iteration of Algorithm 1: (held carry, accepted, R(theta), R(theta')).

    ``estimate(agent_state, buffer, key) -> returns[N]``; ``decide(r_cur, r_prop) -> bool``.
    On rejection the returned carry holds the pre-proposal agent state and buffer objects
    unchanged (bit-identical) and only the behaviour environment advances."""
    import jax

    k_cur, k_prop, k_new = jax.random.split(key, 3)
    r_cur = estimate(carry.agent, carry.buffer, k_cur)
    proposed = propose(carry, k_prop)
    r_new = estimate(proposed.agent, proposed.buffer, k_new)
    accepted = bool(decide(r_cur, r_new))
    if accepted:
        return proposed, True, r_cur, r_new
    return carry._replace(env_state=proposed.env_state, ep_t=proposed.ep_t), False, r_cur, r_new


def td3_step(carry: Carry, key, propose, estimate) -> tuple[Carry, np.ndarray]:
    """One iteration of the baseline: the same proposal (same keys), always taken."""
    import jax

    _, k_prop, k_new = jax.random.split(key, 3)
    proposed = propose(carry, k_prop)
    return proposed, estimate(proposed.agent, proposed.buffer, k_new)


def run_start_policy(start: Carry, key, n_iterations: int, propose, estimate, alpha: float, delta: float,
                     log: Callable[[str], None] = print) -> list[dict]:
    """Algorithm 1 and its plain-TD3 baseline from one start, ``n_iterations`` each.
    Rows: ``method, iteration, accepted, purd_mean, purd_ltp, purd_cvar_<alpha>`` (iteration
    0 = the shared start estimate, logged for both methods)."""
    import jax

    k0, key = jax.random.split(key)
    r0 = estimate(start.agent, start.buffer, k0)
    rows = [dict(method=m, iteration=0, accepted=True, **purd_row(r0, alpha)) for m in METHODS]

    def decide(rc, rn):
        return cvar_accept(rc, rn, alpha, delta)

    rej, td3 = start, start
    t0 = time.time()
    for i in range(1, n_iterations + 1):
        ki = jax.random.fold_in(key, i)
        rej, acc, r_cur, r_new = algorithm1_step(rej, ki, propose, estimate, decide)
        rows.append(dict(method="rejection", iteration=i, accepted=acc, **purd_row(r_new if acc else r_cur, alpha)))
        td3, r_td3 = td3_step(td3, ki, propose, estimate)
        rows.append(dict(method="td3", iteration=i, accepted=True, **purd_row(r_td3, alpha)))
        if i % 5 == 0 or i == n_iterations:
            el = time.time() - t0
            log(f"[rejection] iteration {i}/{n_iterations}: rejection LTP {rows[-2]['purd_ltp']:.3f} "
                f"mean {rows[-2]['purd_mean']:.1f} | td3 LTP {rows[-1]['purd_ltp']:.3f} "
                f"mean {rows[-1]['purd_mean']:.1f}; ETA {el / i * (n_iterations - i):.0f}s")
    return rows
