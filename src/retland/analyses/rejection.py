"""E8 / E9: post-update CVaR rejection (paper Sec. 4.2, Algorithm 1, App. A.9-A.10; Fig. 7, 24,
25, 26).

Algorithm 1, as the paper writes it, from a checkpoint (theta, critic, optimizer state and
the replay buffer as it was at that checkpoint). Each iteration:

1. draw N post-update returns of the current agent (``R(theta)``: N independent
   post-update steps u(theta, X), each rolled out deterministically from s_I);
2. propose one TD3 training step: one environment step of the behaviour policy stored in
   the replay buffer, then one TD3 learner update on a fresh minibatch B (the authors'
   code, ``improve_ltp/experiments/td3_reject_ltp.py`` l. 212-236): the critic every
   proposal, the actor and both targets every second learner step (``target_update_period``
   2, run_algorithm/conf/experiment/train_jaxrl.yaml l. 69; ``update_target = self.step %
   self.target_update_period == 0``, improve_ltp/jaxrl/agents/ddpg/simple_ddpg_learner.py
   l. 248). The learner's counter ``Carry.step`` starts at 1 at the checkpoint (their
   rejection code builds a fresh learner, ``self.step = 1``, l. 180) and counts kept
   proposals: it is restored with the networks on a rejection (``agent_params`` holds
   ``step``, l. 215 / l. 224). So plain TD3 updates its actor at proposals 2, 4, ...;
   Algorithm 1 at its 2nd, 4th, ... kept proposal; proposal 1 only updates the critic
   (see ``agents.td3.full_update``);
3. draw N post-update returns of the proposed agent (``R(theta')``);
4. accept iff CVaR_alpha(R(theta')) >= (1 - delta) CVaR_alpha(R(theta)), with
   ``stats.cvar`` (docs/design.md, section 1); on rejection the networks, the optimizer states,
   the learner counter and the replay buffer return to their state before the proposal (the
   environment the behaviour policy acts in keeps going, as in the authors' code).

The baseline ("plain TD3") makes the same proposals unconditionally from the same start
with the same keys for its environment steps and updates. CVaR level 0.1 and 40 iterations
are the paper's; N and delta are settings (the paper does not give them; its code uses
delta = 0 and 1000 samples).

Estimates and the winner's curse. The per-iteration log holds, for Algorithm 1, the sample
that decided the iteration (``R(theta')`` if kept, else ``R(theta)``), i.e. the winner of a
CVaR comparison between two noisy samples: its LTP is biased low even when rejection has no
real effect. The LTP reduction of Fig. 7 and claim (c) is therefore computed from separate
estimates: after the last iteration both arms' final agents are re-estimated with the same
N and a key split off before the iterations and never used by them (``run_start_policy``:
``k_final``). Both arms use that same key (common random numbers: the two final agents are
close, so their paired difference has less variance; each estimate is independent of every
accept/reject decision, so each is unbiased). The start LTP is the iteration-0 estimate
(key ``k0``, also used by no decision, since every iteration draws a fresh ``R(theta)``):
unbiased, and shared by both arms, so it cancels exactly in the paired difference
rejection minus TD3 (= LTP_end(td3) - LTP_end(rejection)); a second fresh start estimate
would only add noise to each arm's reduction.

Start policies. The table of post-update statistics estimates LTP with
``post_update.n_samples`` (e.g. 200), Algorithm 1 with its own N. A policy whose LTP is
below 1/N shows LTP 0 in most N-samples, and nothing can be reduced. Start policies are
therefore drawn first among the *resolvable* ones, whose table LTP is at least
``min_expected_failures / N`` (k = 2 expected failing samples by default), then (flag
``resolvable = False``) among other noisy policies, then any with a defined LTP (``noisy =
False``). With none resolvable the job refuses (error naming ``rejection.n_samples``) unless
``rejection.allow_unresolvable_starts`` is set.

Contract of ``rejection.csv`` (one file per env, concatenated into stats/rejection.csv):
``env, seed, step, run_index, method`` (``rejection`` / ``td3``), ``iteration, final,
accepted, purd_mean, purd_ltp, purd_cvar_<alpha>``.

* ``final = False``: the per-iteration log (Fig. 24, 26). ``iteration`` 0 is the shared
  start estimate (``accepted`` True, both methods); iteration i >= 1 logs whether
  proposal i was kept and the statistics of the sample that decided it (biased for
  ``rejection``, see above; an ordinary fresh sample for ``td3``).
* ``final = True``: one row per (run, method), ``iteration = n_iterations``, ``accepted``
  empty: the fresh estimate of the agent held after the last iteration. The LTP
  reduction is ``purd_ltp`` at iteration 0 minus ``purd_ltp`` of this row.

``starts.csv``: ``env, algo, seed, step, mean, std, ltp`` (the table's statistics, N =
``n_table``), ``noisy`` (table LTP > 0 and mean > 0), ``resolvable`` (table LTP >=
``min_ltp``), ``ltp_table``, ``n_table``, ``min_ltp`` (= min_expected_failures / N), ``n_alg1``
(N), ``ltp_start`` (mean over the runs of the iteration-0 LTP at N) and ``ltp_start_min`` /
``ltp_start_max`` over the runs.

Generic over agents that provide ``explore(state, obs, key, cfg, act_dim)`` and
``full_update(state, key, replay, lo, hi, cfg, act_dim, step)`` besides the post-update
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
MIN_EXPECTED_FAILURES = 2.0  # k: a start is resolvable at N iff its table LTP >= k / N


def select_start_policies(stats: pd.DataFrame, env: str, algo: str, n_starts: int, seed: int,
                          n_samples: int | None = None, min_expected_failures: float = MIN_EXPECTED_FAILURES,
                          allow_unresolvable: bool = True) -> pd.DataFrame:
    """Start policies of Algorithm 1, ``n_starts`` drawn uniformly without replacement
    (seeded by ``seed`` and ``env``) tier by tier until enough are found:

    1. *resolvable* noisy policies: positive mean, finite LTP >= ``min_ltp`` =
       ``min_expected_failures / n_samples`` (Algorithm 1's N expects at least that many
       failing samples, so its estimates can show an LTP to reduce);
    2. other noisy policies (0 < LTP < min_ltp; ``resolvable = False``);
    3. policies with a finite LTP (``noisy = False``).

    ``n_samples = None`` sets ``min_ltp`` = 0 (every noisy policy is resolvable). With no
    resolvable policy and ``allow_unresolvable = False``: ValueError naming
    ``rejection.n_samples``. Sorted by (seed, step); columns ``env, algo, seed, step, mean,
    std, ltp, noisy, resolvable, ltp_table, n_table, min_ltp``."""
    if n_starts < 1:
        raise ValueError(f"n_starts must be >= 1, got {n_starts}")
    if n_samples is not None and n_samples < 1:
        raise ValueError(f"rejection.n_samples must be >= 1, got {n_samples}")
    df = stats[(stats["env"] == env) & (stats["algo"] == algo)].reset_index(drop=True)
    if df.empty:
        raise ValueError(f"no {algo} policies of {env!r} in the post-update statistics table")
    min_ltp = 0.0 if n_samples is None else float(min_expected_failures) / int(n_samples)
    rng = np.random.default_rng([int(seed)] + [ord(c) for c in env])
    ltp = df["ltp"].to_numpy(float)
    finite = np.isfinite(ltp)
    noisy_mask = finite & (ltp > 0) & (df["mean"].to_numpy(float) > 0)
    res_mask = noisy_mask & (np.where(finite, ltp, -1.0) >= min_ltp)
    noisy = np.flatnonzero(noisy_mask)
    resolvable = np.flatnonzero(res_mask)
    if not len(resolvable) and not allow_unresolvable:
        best = float(np.nanmax(np.where(noisy_mask, ltp, np.nan))) if len(noisy) else 0.0
        need = f"N >= {int(np.ceil(min_expected_failures / best))}" if best > 0 else "a noisier start"
        raise ValueError(
            f"'rejection.n_samples': N = {n_samples} cannot resolve the LTP of any {algo} start policy of "
            f"{env!r}: a start needs a table LTP >= {min_expected_failures:g} / N = {min_ltp:.3g} "
            f"(rejection.min_expected_failures), the largest is {best:.3g}; set {need} or "
            f"rejection.allow_unresolvable_starts: true")
    pick: list = []
    for tier in (resolvable, np.setdiff1d(noisy, resolvable), np.setdiff1d(np.flatnonzero(finite), noisy)):
        if len(pick) < n_starts and len(tier):
            pick += list(rng.choice(tier, size=min(n_starts - len(pick), len(tier)), replace=False))
    if not pick:
        raise ValueError(f"no {algo} policy of {env!r} has a defined LTP (all modes <= 0)")
    out = df.loc[pick, ["env", "algo", "seed", "step", "mean", "std", "ltp"]].copy()
    out["noisy"] = [bool(noisy_mask[i]) for i in pick]
    out["resolvable"] = [bool(res_mask[i]) for i in pick]
    out["ltp_table"] = out["ltp"]
    out["n_table"] = df.loc[pick, "n"].to_numpy() if "n" in df.columns else np.nan
    out["min_ltp"] = min_ltp
    return out.sort_values(["seed", "step"]).reset_index(drop=True)


def start_ltps(starts: pd.DataFrame, log: pd.DataFrame, n_samples: int) -> pd.DataFrame:
    """``starts`` with ``n_alg1`` (= ``n_samples``, Algorithm 1's N) and the start LTP at that
    N from the log's iteration-0 rows (shared by both methods): ``ltp_start`` (mean over the
    runs), ``ltp_start_min``, ``ltp_start_max``; NaN for a start without runs."""
    out = starts.copy()
    out["n_alg1"] = int(n_samples)
    it0 = iteration_log(log)
    it0 = it0[(it0["iteration"] == 0) & (it0["method"] == METHODS[0])]
    g = it0.groupby(["env", "seed", "step"])["purd_ltp"]
    agg = pd.DataFrame({"ltp_start": g.mean(), "ltp_start_min": g.min(), "ltp_start_max": g.max()}).reset_index()
    out = out.drop(columns=[c for c in agg.columns if c in out.columns and c not in ("env", "seed", "step")])
    return out.merge(agg, on=["env", "seed", "step"], how="left")


def cvar_accept(r_current, r_proposed, alpha: float, delta: float) -> bool:
    """Algorithm 1's test: CVaR_alpha(R(theta')) >= (1 - delta) CVaR_alpha(R(theta))."""
    return bool(S.cvar(r_proposed, alpha) >= (1.0 - delta) * S.cvar(r_current, alpha))


def purd_row(returns, alpha: float) -> dict:
    """PURD mean / LTP / CVaR_alpha of one sample (``stats`` definitions)."""
    return {"purd_mean": S.mean(returns), "purd_ltp": S.ltp(returns),
            f"purd_cvar_{alpha:g}": S.cvar(returns, alpha)}


def _final_mask(log: pd.DataFrame) -> np.ndarray:
    """Rows that are fresh final estimates (column ``final``; a table without it has none)."""
    if "final" not in log.columns:
        return np.zeros(len(log), bool)
    f = log["final"]
    if f.dtype == object:  # mixed or string values (a hand-edited or concatenated table)
        f = f.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))
    return f.fillna(False).astype(bool).to_numpy()


def iteration_log(log: pd.DataFrame) -> pd.DataFrame:
    """The per-iteration rows (``final`` False or absent): Fig. 24 paths, Fig. 26 frequencies."""
    return log[~_final_mask(log)]


def final_estimates(log: pd.DataFrame) -> pd.DataFrame:
    """The fresh final estimates (``final`` True): one row per (env, seed, step, run, method)."""
    return log[_final_mask(log)]


def ltp_reductions(log: pd.DataFrame) -> pd.DataFrame:
    """One row per (env, seed, step, run_index, method): ``ltp_start`` (iteration 0, shared
    by both methods), ``ltp_end`` (the fresh final estimate), ``ltp_reduction`` = start minus
    end, ``mean_start, mean_end``, ``ltp_end_logged`` (the last logged iteration; for
    ``rejection`` the winner of its own comparison, biased low: not used), the rejection
    frequency of the proposals and ``end_estimate``: ``final``, or ``last_iteration`` for a run
    without a final row (tables written before the final estimates existed; a warning says
    the reduction is biased for ``rejection``)."""
    import warnings

    keys = ["env", "seed", "step", "run_index", "method"]
    it = iteration_log(log)
    fin = {k: g for k, g in final_estimates(log).groupby(keys)}
    rows, n_legacy = [], 0
    for k, g in it.sort_values("iteration", kind="stable").groupby(keys):
        steps = g[g["iteration"] > 0]
        if k in fin:
            end, how = fin[k].iloc[-1], "final"
        else:
            end, how = g.iloc[-1], "last_iteration"
            n_legacy += 1
        rows.append(dict(zip(keys, k), ltp_start=float(g["purd_ltp"].iloc[0]), ltp_end=float(end["purd_ltp"]),
                         mean_start=float(g["purd_mean"].iloc[0]), mean_end=float(end["purd_mean"]),
                         ltp_end_logged=float(g["purd_ltp"].iloc[-1]),
                         rejection_frequency=float(1.0 - steps["accepted"].astype(float).mean())
                         if len(steps) else float("nan"), end_estimate=how))
    if n_legacy:
        warnings.warn(f"{n_legacy} Algorithm 1 run(s) have no fresh final estimate (rows with final = True): their "
                      f"end LTP is the last logged iteration, biased low for 'rejection'", stacklevel=2)
    out = pd.DataFrame(rows)
    out["ltp_reduction"] = out["ltp_start"] - out["ltp_end"]
    return out


def _end_estimate(red: pd.DataFrame) -> str:
    kinds = set(red["end_estimate"]) if len(red) else set()
    return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "none")


def ltp_reduction_summary(log: pd.DataFrame, reps: int, ci: float, seed: int) -> pd.DataFrame:
    """``method, mean, lo, hi, n, end_estimate``: mean LTP reduction per method (start LTP
    minus the fresh final LTP, ``ltp_reductions``) with rliable CIs (environments as tasks);
    plus ``rejection_minus_td3``, the paired difference over (start policy, run).
    ``end_estimate``: ``final`` when every run has its fresh final estimate, else
    ``last_iteration`` (biased legacy tables) or ``mixed``."""
    from ..stats import group_means_ci, rliable_mean_ci

    red = ltp_reductions(log)
    out = group_means_ci(red, "method", "ltp_reduction", METHODS, reps, ci, seed)
    out["n"] = out.pop("n_defined") + out.pop("n_undefined")
    out["end_estimate"] = [_end_estimate(red[red["method"] == m]) for m in out["method"]]
    rows = out.to_dict("records")
    piv = red.pivot_table(index=["env", "seed", "step", "run_index"], columns="method",
                          values="ltp_reduction").reset_index()
    if set(METHODS) <= set(piv.columns):
        diff = piv["rejection"] - piv["td3"]
        by_env = {e: diff[piv["env"] == e].to_numpy(float) for e in piv["env"].unique()}
        m, lo, hi = rliable_mean_ci(by_env, reps, ci, seed + len(METHODS))
        rows.append({"method": "rejection_minus_td3", "mean": m, "lo": lo, "hi": hi, "n": len(piv),
                     "end_estimate": _end_estimate(red)})
    return pd.DataFrame(rows)


def claim_c(summary: pd.DataFrame, require_final: bool = True) -> dict:
    """Claim (c) (Sec. 4.2, Fig. 7): Algorithm 1 reduces LTP more than plain TD3. From
    ``ltp_reduction_summary``'s table: ``value, lo, hi, n`` of the paired difference
    ``rejection_minus_td3`` of the LTP reductions (its rliable / stratified-bootstrap CI),
    ``holds`` iff ``lo > 0`` and (with ``require_final``) the reductions use the fresh
    final estimates (``end_estimate == "final"``; a summary without that column, or from
    logged end points, cannot support the claim), ``end_estimate``, the per-method
    ``rejection`` / ``td3`` ``(mean, lo, hi)``, and ``rows``: ``{method: {mean, lo, hi, n}}``
    for each of ``rejection, td3, rejection_minus_td3`` in the summary. No paired runs:
    NaNs, n = 0, holds False."""
    s = summary.set_index("method")
    nan = float("nan")
    rows = {}
    for m in (*METHODS, "rejection_minus_td3"):
        if m in s.index:
            r = s.loc[m]
            n_m = float(r["n"]) if "n" in s.columns else nan
            rows[m] = {"mean": float(r["mean"]), "lo": float(r["lo"]), "hi": float(r["hi"]),
                       "n": int(n_m) if np.isfinite(n_m) else -1}

    def trio(m):
        if m not in s.index:
            return (nan, nan, nan)
        r = s.loc[m]
        return (float(r["mean"]), float(r["lo"]), float(r["hi"]))

    value, lo, hi = trio("rejection_minus_td3")
    has = "rejection_minus_td3" in s.index
    n = int(s.loc["rejection_minus_td3", "n"]) if has and "n" in s.columns and np.isfinite(
        float(s.loc["rejection_minus_td3", "n"])) else 0
    end = str(s.loc["rejection_minus_td3", "end_estimate"]) if has and "end_estimate" in s.columns else "unknown"
    holds = bool(has and np.isfinite(lo) and lo > 0 and (end == "final" or not require_final))
    return {"value": value, "lo": lo, "hi": hi, "n": n, "holds": holds, "end_estimate": end,
            "rejection": trio("rejection"), "td3": trio("td3"), "rows": rows}


def rejection_frequency(log: pd.DataFrame) -> pd.DataFrame:
    """Fig. 26: per environment, mean rejection frequency of Algorithm 1 over (start policy,
    run) and its standard error (ddof=1; 0 with a single run)."""
    it = iteration_log(log)
    steps = it[(it["method"] == "rejection") & (it["iteration"] > 0)]
    runs = steps.groupby(["env", "seed", "step", "run_index"])["accepted"].apply(
        lambda a: 1.0 - float(a.astype(float).mean())).reset_index(name="rejection_frequency")
    rows = []
    for env, g in runs.groupby("env"):
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
    # the learner's update counter passed to ``full_update`` (the authors' ``self.step``):
    # 1 at the checkpoint, +1 per proposal, restored with the agent on a rejection
    step: object = 1


def start_carry(state, buffer: Buffer, env_state) -> Carry:
    """The carry of a run from a checkpoint: episode step 0, learner counter 1 (int32, so
    the jitted proposal is traced once)."""
    import jax.numpy as jnp

    return Carry(state, buffer, env_state, jnp.int32(0), jnp.int32(1))


def working_buffer(replay, lo: int, hi: int, n_new: int) -> Buffer:
    """Rows [lo, hi) of the training log are the buffer at the checkpoint; later log rows
    are never sampled, and new transitions overwrite rows hi, hi + 1, ... of a copy that has
    ``n_new`` spare rows at its end."""
    import jax
    import jax.numpy as jnp

    data = jax.tree_util.tree_map(
        lambda x: jnp.concatenate([x, jnp.zeros((n_new,) + x.shape[1:], x.dtype)]), replay)
    return Buffer(data, jnp.int32(lo), jnp.int32(hi))


def make_propose(src):
    """Jitted ``propose(carry, key) -> carry`` of ``src``'s agent on its environment (with its
    config: :mod:`retland.analyses.source`): one environment step of the behaviour
    policy (stored in the buffer; the episode restarts on termination or time limit), then
    one learner update on a fresh minibatch of the buffer, ``full_update(..., carry.step)``
    (TD3: critic always, actor and targets at even counters), counter + 1."""
    import jax
    import jax.numpy as jnp

    from ..base.replay import Transition

    agent, env, cfg = src.agent, src.env, src.cfg
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
        step = jnp.asarray(c.step, jnp.int32)
        new_agent = agent.full_update(c.agent, k_upd, data, buffer.lo, buffer.hi, cfg, act_dim, step)
        return Carry(new_agent, buffer, env_state, jnp.where(end, 0, ep_t), step + 1)

    return jax.jit(propose)


def algorithm1_step(carry: Carry, key, propose, estimate, decide) -> tuple[Carry, bool, np.ndarray, np.ndarray]:
    """One iteration of Algorithm 1: (held carry, accepted, R(theta), R(theta')).

    ``estimate(agent_state, buffer, key) -> returns[N]``; ``decide(r_cur, r_prop) -> bool``.
    On rejection the returned carry holds the pre-proposal agent state, learner counter and
    buffer objects unchanged (bit-identical) and only the behaviour environment advances."""
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

    Keys: ``k0`` (start estimate), ``k_final`` (final estimates) and ``k_iter`` are split
    from ``key`` first; iteration i uses ``fold_in(k_iter, i)`` only, so neither the start
    nor the final estimates share a key with any estimate that decided an iteration.
    Rows (module docstring, "Contract"): ``method, iteration, final, accepted, purd_mean,
    purd_ltp, purd_cvar_<alpha>``; iteration 0 = the shared start estimate (both methods),
    iterations 1..n the log (for ``rejection`` the deciding sample), and per method one
    ``final`` row: the agent held after the last iteration, estimated afresh with
    ``k_final`` (the same key for both methods: common random numbers)."""
    import jax

    k0, k_final, k_iter = jax.random.split(key, 3)
    r0 = estimate(start.agent, start.buffer, k0)
    rows = [dict(method=m, iteration=0, final=False, accepted=True, **purd_row(r0, alpha)) for m in METHODS]

    def decide(rc, rn):
        return cvar_accept(rc, rn, alpha, delta)

    rej, td3 = start, start
    t0 = time.time()
    for i in range(1, n_iterations + 1):
        ki = jax.random.fold_in(k_iter, i)
        rej, acc, r_cur, r_new = algorithm1_step(rej, ki, propose, estimate, decide)
        rows.append(dict(method="rejection", iteration=i, final=False, accepted=acc,
                         **purd_row(r_new if acc else r_cur, alpha)))
        td3, r_td3 = td3_step(td3, ki, propose, estimate)
        rows.append(dict(method="td3", iteration=i, final=False, accepted=True, **purd_row(r_td3, alpha)))
        if i % 5 == 0 or i == n_iterations:
            el = time.time() - t0
            log(f"[rejection] iteration {i}/{n_iterations}: rejection LTP {rows[-2]['purd_ltp']:.3f} "
                f"mean {rows[-2]['purd_mean']:.1f} (deciding sample) | td3 LTP {rows[-1]['purd_ltp']:.3f} "
                f"mean {rows[-1]['purd_mean']:.1f}; ETA {el / i * (n_iterations - i):.0f}s")
    for m, held in (("rejection", rej), ("td3", td3)):
        r = estimate(held.agent, held.buffer, k_final)
        rows.append(dict(method=m, iteration=n_iterations, final=True, accepted=None, **purd_row(r, alpha)))
    log(f"[rejection] final estimates (fresh key): rejection LTP {rows[-2]['purd_ltp']:.3f} mean "
        f"{rows[-2]['purd_mean']:.1f} | td3 LTP {rows[-1]['purd_ltp']:.3f} mean {rows[-1]['purd_mean']:.1f} "
        f"| start LTP {rows[0]['purd_ltp']:.3f}")
    return rows
