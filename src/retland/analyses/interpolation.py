"""E6 / E7: linear interpolation between policies (paper Sec. 4.1, App. A.3; Fig. 5, 6, 8, 9, Tab. 2).

* Pair selection (Tab. 2): pairs of policies of similar post-update mean but different
  post-update standard deviation, from the same run (same seed, two checkpoints) and from
  different runs (two seeds). ``theta_a`` is the member with the higher LTP (the paper's
  theta_1), so the path goes theta = a theta_a + (1 - a) theta_b, a in [0, 1].
* Fig. 5 / 9: the return R(theta) of one deterministic simulation from s_I at each point.
* Fig. 8: mean and std of the noise-based post-update distribution at each point
  (theta + N(0, sigma^2 I), 1000 perturbations, sigma = 3e-4 at paper scale).
* Fig. 6 (below-threshold proportion, BTP): random same-run / different-run pairs (500 each
  per environment at paper scale) drawn from the authors' pair set, with no screening
  (:func:`sample_btp_pairs`: c1 != c2 within a seed; seed s with seed s + 1, c1 != c2),
  the authors' grid linspace(0, 1, 100) (98 intermediate points between the endpoints),
  each point's return the mean over Gaussian perturbations (std 3e-4; 100 in the authors'
  README, the same draws at every point as in their code); BTP = fraction of the
  intermediate points below 10% of the smaller endpoint return
  (``stats.below_threshold_proportion``); aggregated over environments with rliable
  (environments as tasks, 95% stratified bootstrap); claim (b) decided by :func:`claim_b`.

Interpolation acts on the policy parameters only (``agent.policy_params``). The selection
and aggregation functions are numpy/pandas only; JAX is imported inside the simulators.
"""

from __future__ import annotations

import itertools
import time
from typing import Callable

import numpy as np
import pandas as pd

from .. import stats as S

KINDS = ("same_run", "different_run")
_POLICY_COLS = ("seed", "step")


# ---------------------------------------------------------------------------------------
# pair selection (pure functions of the post-update statistics table)
# ---------------------------------------------------------------------------------------
def _policies(stats: pd.DataFrame, env: str, algo: str) -> pd.DataFrame:
    need = {"env", "algo", "seed", "step", "mean", "std", "ltp"}
    missing = sorted(need - set(stats.columns))
    if missing:
        raise ValueError(f"post-update statistics table lacks column(s) {missing}")
    df = stats[(stats["env"] == env) & (stats["algo"] == algo)]
    if df.empty:
        raise ValueError(f"no {algo} policies of {env!r} in the post-update statistics table")
    return df.sort_values(["seed", "step"]).reset_index(drop=True)


def learned_policies(df: pd.DataFrame, fraction: float = 0.5) -> tuple[pd.DataFrame, bool]:
    """The policies whose (finite) mean post-update return is at least ``fraction`` of the
    best positive mean, when two or more are (else ``df`` unchanged); and whether it
    screened. A policy that falls at once has a trivially flat neighbourhood (every update
    falls the same way): pairs of such policies say nothing about Fig. 1, 5 or 6."""
    mean = df["mean"].to_numpy(float)
    fin = np.isfinite(mean)
    best = mean[fin].max() if fin.any() else 0.0
    if best <= 0:
        return df, False
    keep = fin & (mean >= fraction * best)
    if keep.sum() < 2:
        return df, False
    return df[keep].reset_index(drop=True), True


def _screened_candidates(df: pd.DataFrame, kind: str) -> tuple[pd.DataFrame, list[tuple[int, int]]]:
    """Pairs of ``kind`` among the learned policies (:func:`learned_policies`); all policies
    when the screened set has no pair of that kind (e.g. one learned policy per run)."""
    learned, screened = learned_policies(df)
    if screened:
        cands = _candidate_pairs(learned, kind)
        if cands:
            return learned, cands
    return df, _candidate_pairs(df, kind)


def _candidate_pairs(df: pd.DataFrame, kind: str) -> list[tuple[int, int]]:
    if kind not in KINDS:
        raise ValueError(f"pair kind must be one of {KINDS}, got {kind!r}")
    same = kind == "same_run"
    return [(i, j) for i, j in itertools.combinations(range(len(df)), 2)
            if (df.at[i, "seed"] == df.at[j, "seed"]) == same]


def _pair_row(df, env, kind, i, j, **extra) -> dict:
    a, b = df.loc[i], df.loc[j]
    # theta_a = the member with the higher LTP (paper: theta_1 has the higher LTP)
    if np.nan_to_num(b["ltp"], nan=-1.0) > np.nan_to_num(a["ltp"], nan=-1.0):
        a, b = b, a
    row = {"env": env, "kind": kind, "seed_a": int(a["seed"]), "step_a": int(a["step"]),
           "seed_b": int(b["seed"]), "step_b": int(b["step"])}
    for s in ("mean", "std", "ltp"):
        row[f"{s}_a"], row[f"{s}_b"] = float(a[s]), float(b[s])
    row.update(extra)
    return row


def relative_mean_gap(m1, m2) -> np.ndarray:
    """|m1 - m2| / max(|m1|, |m2|): how different two mean returns are (0 = equal)."""
    m1, m2 = np.asarray(m1, float), np.asarray(m2, float)
    den = np.maximum(np.abs(m1), np.abs(m2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.abs(m1 - m2) / den, 0.0)


def select_similar_pairs(stats: pd.DataFrame, env: str, algo: str, kind: str, n_pairs: int,
                         mean_tolerance: float) -> pd.DataFrame:
    """Tab. 2: ``n_pairs`` pairs of ``kind`` with similar mean but different std.

    Candidates are pairs whose relative mean gap (:func:`relative_mean_gap`) is at most
    ``mean_tolerance`` and whose means are positive; among them the pairs with the largest
    relative std difference |std_a - std_b| / max(std_a, std_b) are taken (ties: smaller
    mean gap first), each policy used once where possible. When fewer such pairs exist
    (small runs) the remaining slots go to the pairs of smallest mean gap, flagged
    ``similar_mean = False``. Only policies with at least half the best mean are paired
    (:func:`learned_policies`) where such pairs of ``kind`` exist. Deterministic.
    """
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be >= 1, got {n_pairs}")
    df, cands = _screened_candidates(_policies(stats, env, algo), kind)
    if not cands:
        raise ValueError(f"no {kind} pairs among the {len(df)} {algo} policies of {env!r} "
                         f"({'need >= 2 checkpoints per seed' if kind == 'same_run' else 'need >= 2 seeds'})")
    m, s = df["mean"].to_numpy(float), df["std"].to_numpy(float)
    scored = []
    for i, j in cands:
        gap = float(relative_mean_gap(m[i], m[j]))
        sd = abs(s[i] - s[j]) / max(s[i], s[j]) if max(s[i], s[j]) > 0 else 0.0
        ok = gap <= mean_tolerance and m[i] > 0 and m[j] > 0
        scored.append((not ok, -sd if ok else gap, gap, i, j))
    scored.sort()
    rows, used, chosen = [], set(), set()
    # similar-mean pairs of distinct policies first, then similar-mean pairs reusing a
    # policy, then the fallback pairs (same order)
    for want_bad, reuse in ((False, False), (False, True), (True, False), (True, True)):
        for bad, _, gap, i, j in scored:
            if len(rows) == n_pairs:
                break
            if bad != want_bad or (i, j) in chosen or (not reuse and (i in used or j in used)):
                continue
            used.update((i, j))
            chosen.add((i, j))
            rows.append(_pair_row(df, env, kind, i, j, mean_gap=gap, similar_mean=not bad))
    return pd.DataFrame(rows)


def chosen_pairs(stats: pd.DataFrame, env: str, algo: str, pairs, mean_tolerance: float) -> pd.DataFrame:
    """Fig. 5/8 pairs named in the config (``interpolation.pairs``: ``{a: {seed, step},
    b: {seed, step}}``) in :func:`select_similar_pairs`' columns; kind ``same_run`` when the
    seeds are equal. theta_a stays the one named ``a``."""
    df = _policies(stats, env, algo).reset_index(drop=True)
    rows = []
    for p in pairs:
        idx = []
        for side in ("a", "b"):
            hit = df.index[(df["seed"] == int(p[side]["seed"])) & (df["step"] == int(p[side]["step"]))]
            if len(hit) != 1:
                raise ValueError(f"interpolation.pairs: {algo} on {env} has no policy at seed {p[side]['seed']}, "
                                 f"step {p[side]['step']} in the statistics table")
            idx.append(int(hit[0]))
        i, j = idx
        if i == j:
            raise ValueError(f"interpolation.pairs: a and b are the same policy {p['a']}")
        kind = "same_run" if int(df.loc[i, "seed"]) == int(df.loc[j, "seed"]) else "different_run"
        gap = float(relative_mean_gap(df.loc[i, "mean"], df.loc[j, "mean"]))
        row = _pair_row(df, env, kind, i, j, mean_gap=gap, similar_mean=bool(gap <= mean_tolerance))
        if (row["seed_a"], row["step_a"]) != (int(df.loc[i, "seed"]), int(df.loc[i, "step"])):  # keep a as named
            for k in ("seed", "step", "mean", "std", "ltp"):
                row[f"{k}_a"], row[f"{k}_b"] = row[f"{k}_b"], row[f"{k}_a"]
        rows.append(row)
    return pd.DataFrame(rows)


def sample_random_pairs(stats: pd.DataFrame, env: str, algo: str, kind: str, n_pairs: int,
                        seed: int, screen: bool = True) -> pd.DataFrame:
    """Fig. 19 (Atari, A.6; called with ``screen=False``): ``n_pairs`` distinct random pairs
    of ``kind`` (uniform without replacement over all unordered pairs; all of them when fewer
    exist), seeded by ``seed``, ``env`` and ``kind``; with ``screen``, among the policies with
    at least half the best mean (:func:`learned_policies`) where such pairs of ``kind``
    exist; without, among all policies (A.6 samples pairs of the runs' policies).

    Fig. 6 does not use this function any more: its pairs follow the authors' code
    (:func:`sample_btp_pairs`), with no screening by mean."""
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be >= 1, got {n_pairs}")
    df = _policies(stats, env, algo)
    df, cands = _screened_candidates(df, kind) if screen else (df, _candidate_pairs(df, kind))
    if not cands:
        raise ValueError(f"no {kind} pairs among the {len(df)} {algo} policies of {env!r}")
    salt = [int(seed), KINDS.index(kind)] + [ord(c) for c in env]
    rng = np.random.default_rng(salt)
    idx = rng.choice(len(cands), size=min(n_pairs, len(cands)), replace=False)
    return pd.DataFrame([_pair_row(df, env, kind, *cands[k]) for k in sorted(idx)])


def btp_candidate_pairs(df: pd.DataFrame, kind: str) -> list[tuple[int, int]]:
    """The authors' Fig. 6 pair set over the policies ``df`` (rows: ``seed, step``), as index
    pairs into ``df``; no screening of any kind (see :func:`sample_btp_pairs`)."""
    if kind not in KINDS:
        raise ValueError(f"pair kind must be one of {KINDS}, got {kind!r}")
    seeds = sorted(int(s) for s in df["seed"].unique())
    at = {(int(s), int(t)): i for i, (s, t) in enumerate(zip(df["seed"], df["step"]))}
    steps = {s: sorted(t for (ss, t) in at if ss == s) for s in seeds}
    out = []
    if kind == "same_run":
        # policy_interpolation_seed.py l. 159-163 + 165-168: c1 != c2 within seed s
        for s in seeds:
            out += [(at[s, c1], at[s, c2]) for c1, c2 in itertools.combinations(steps[s], 2)]
    else:
        # l. 159-163 + 169-172: (seed s, c1) with (seed s + 1, c2), c1 != c2 (ordered)
        for s, s1 in zip(seeds[:-1], seeds[1:]):
            out += [(at[s, c1], at[s1, c2]) for c1 in steps[s] for c2 in steps[s1] if c1 != c2]
    return out


def sample_btp_pairs(stats: pd.DataFrame, env: str, algo: str, kind: str, n_pairs: int,
                     seed: int) -> pd.DataFrame:
    """Fig. 6: ``n_pairs`` pairs of ``kind`` drawn as the authors do, among ALL the run's
    policies (no screening by mean or return).

    The authors' code (``eval_policy/experiments/policy_interpolation_seed.py``,
    ``PolicyInterpolationSeed.run``, l. 156-176; README l. 74-78 sweeps
    ``experiment.seed=0..9``, ``same_seed=false,true``, ``first_half=false,true``):

    * l. 157: ``valid_checkpoints`` = every logged checkpoint (50k, 150k, ..., 950k);
    * l. 159-163: every ordered checkpoint pair ``(ckpt1, ckpt2)`` with ``ckpt1 != ckpt2``
      (``first_half``, l. 164, only splits that list over two jobs: together all 90 pairs);
    * l. 165-168 (``same_seed``): both policies from seed ``s``: (s, c1) <-> (s, c2);
    * l. 169-172 (different runs): ``seeds2 = [self.seed + 1]``: (s, c1) <-> (s + 1, c2),
      the SAME ordered checkpoint pairs, so c1 != c2 here too (a checkpoint is never paired
      with the same checkpoint index of the next run);
    * no pair is screened: every policy of those runs takes part (the paper, Sec. 4.1,
      "randomly-sampled policies", then samples 500 pairs of each kind per environment from
      this set).

    Here ``s + 1`` is the next seed of the run's sorted seed list (the same thing for
    consecutive seeds), and every seed with a successor gives different-run pairs; the
    same-run pairs come from every seed (the authors swept s = 0..9 of their 20 runs, a
    subset chosen by the sweep, not by the policies). Same-run pairs are unordered
    (c1 < c2): the authors' (c1, c2) and (c2, c1) are the same path walked backwards (the
    grid is symmetric) and BTP does not depend on the direction, so uniform sampling over
    the unordered pairs has the authors' distribution without drawing a path twice.
    Different-run ordered pairs ((s, c1), (s + 1, c2)) and ((s, c2), (s + 1, c1)) are
    different paths and both candidates. ``n_pairs`` are drawn uniformly without
    replacement (all when fewer exist), seeded by ``seed``, ``env`` and ``kind``; the
    columns are those of :func:`sample_random_pairs` (``theta_a`` = higher LTP).
    """
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be >= 1, got {n_pairs}")
    df = _policies(stats, env, algo)
    cands = btp_candidate_pairs(df, kind)
    if not cands:
        raise ValueError(f"no {kind} pairs among the {len(df)} {algo} policies of {env!r} "
                         f"({'need >= 2 checkpoints per seed' if kind == 'same_run' else 'need >= 2 seeds'})")
    salt = [int(seed), KINDS.index(kind)] + [ord(c) for c in env]
    rng = np.random.default_rng(salt)
    idx = rng.choice(len(cands), size=min(n_pairs, len(cands)), replace=False)
    return pd.DataFrame([_pair_row(df, env, kind, *cands[k]) for k in sorted(idx)])


# ---------------------------------------------------------------------------------------
# simulation (JAX)
# ---------------------------------------------------------------------------------------
def interpolate(theta_a, theta_b, a):
    """theta = a theta_a + (1 - a) theta_b (paper Sec. 4.1), leaf by leaf."""
    import jax

    return jax.tree_util.tree_map(lambda x, y: a * x + (1.0 - a) * y, theta_a, theta_b)


def gaussian_perturbation(theta, key, sigma, mask=None):
    """theta + N(0, sigma^2 I): one independent normal draw per parameter (docs/design.md,
    section 1); with ``mask`` (a pytree of Python bools, the agent's ``perturbable``) only
    the leaves where it is True (a PPO's observation normaliser stays as it is)."""
    import jax

    leaves, tree = jax.tree_util.tree_flatten(theta)
    keys = jax.random.split(key, len(leaves))
    flags = [True] * len(leaves) if mask is None else jax.tree_util.tree_leaves(mask)
    return jax.tree_util.tree_unflatten(
        tree, [x + sigma * jax.random.normal(k, x.shape, x.dtype) if m else x for x, k, m in zip(leaves, keys, flags)])


def perturbation_mask(src):
    """``mask_of(theta)``: the agent's ``perturbable`` leaves of ``src``, or None (all)."""
    agent = src.agent
    if not hasattr(agent, "perturbable"):
        return lambda theta: None
    return lambda theta: agent.perturbable(theta, src.cfg)


def make_path_evaluator(src, horizon: int, chunk_size: int | None = None, workers: int = 1,
                        return_definition: str = "first_life"):
    """``f(theta_a, theta_b, alphas[C], keys[C], sigma, start) -> returns[C]``: the return
    from ``start`` of the deterministic policy perturb(interpolate(a_i), key_i, sigma) of
    ``src`` (agent, config, environment: :mod:`retland.analyses.source`). One
    jitted, vmapped function for a JAX-stepped suite; for a host-stepped one (Atari, Fig. 19)
    the C perturbed policies are one jitted call and their rollouts a
    :class:`retland.rollout.HostRollout` of ``chunk_size`` copies over ``workers`` processes,
    whose return is ``return_definition``'s. Under ``"authors"`` the copies of one point
    (one alpha) are one group, as the authors' ``ppo_interpolate.py`` evaluated a point's
    perturbations in one ``evaluate_policy`` call (l. 117-141): their early stop needs all of
    them done on one step, so a chunk should hold whole points (``chunk_size`` a multiple of
    the perturbations per point)."""
    import jax

    from ..base.envs import is_host_stepped
    from ..rollout import make_rollout
    from .source import policy_of

    env = src.env
    policy = policy_of(src)
    mask_of = perturbation_mask(src)
    if is_host_stepped(env):
        from ..rollout import HostRollout

        if chunk_size is None:
            raise ValueError("a host-stepped path evaluator needs its chunk size")
        points = jax.jit(jax.vmap(lambda ta, tb, a, key, sigma: gaussian_perturbation(interpolate(ta, tb, a), key, sigma,
                                                                                     mask_of(ta)),
                                  in_axes=(None, None, 0, 0, None)))
        rollout = HostRollout(env, policy, horizon, int(chunk_size), workers, return_definition)

        def host(theta_a, theta_b, alphas, keys, sigma, start):
            groups = np.asarray(alphas) if return_definition == "authors" else None
            return rollout(points(theta_a, theta_b, alphas, keys, sigma), start, groups)[0]

        host.rollout = rollout
        return host
    if return_definition != "first_life":
        raise ValueError(f"return_definition {return_definition!r}: JAX-stepped suites count to the first termination "
                         "('first_life')")
    rollout = make_rollout(env, policy, horizon)

    def one(theta_a, theta_b, a, key, sigma, start):
        return rollout(gaussian_perturbation(interpolate(theta_a, theta_b, a), key, sigma, mask_of(theta_a)), start)[0]

    return jax.jit(jax.vmap(one, in_axes=(None, None, 0, 0, None, None)))


def path_returns(evaluator, theta_a, theta_b, alphas, *, n_perturbations: int, sigma: float, key,
                 chunk_size: int, start_state, shared: bool = False) -> np.ndarray:
    """Returns [len(alphas), n_perturbations] along the path (float64); with ``sigma = 0``
    and ``n_perturbations = 1`` the single deterministic simulation of Fig. 5.

    ``shared``: perturbation j is the same noise draw eps_j at every point of the path
    (theta(a_i) + sigma eps_j), as in the authors' Brax code (policy_interpolation_seed.py
    l. 128-131 and policy_interpolation.py: ``update_policy`` is vmapped over the points
    with one ``rng``, so every point gets the same keys); otherwise every (point,
    perturbation) has its own draw (their Atari code, ppo_interpolate.py ``parallel_eval``,
    draws afresh per point)."""
    import jax
    import jax.numpy as jnp

    from ..rollout import chunked, pad_to

    alphas = np.asarray(alphas, np.float32)
    n_a, k = len(alphas), int(n_perturbations)
    if k < 1:
        raise ValueError(f"n_perturbations must be >= 1, got {k}")
    flat_a = jnp.asarray(np.repeat(alphas, k))
    if shared:
        keys = jax.random.split(key, k)[jnp.asarray(np.tile(np.arange(k), n_a))]
    else:
        keys = jax.random.split(key, n_a * k)
    out = []
    for s, e in chunked(n_a * k, chunk_size):
        r = evaluator(theta_a, theta_b, pad_to(flat_a[s:e], chunk_size), pad_to(keys[s:e], chunk_size),
                      jnp.float32(sigma), start_state)
        out.append(np.asarray(r[: e - s], np.float64))
    return np.concatenate(out).reshape(n_a, k)


#: the point grids of a below-threshold path (:func:`btp_alphas`)
BTP_GRIDS = ("interior", "inclusive")


def btp_alphas(n_points: int, grid: str = "interior") -> np.ndarray:
    """The two endpoints (a = 1: theta_a, a = 0: theta_b) followed by the intermediate
    points strictly inside (0, 1). ``grid = "interior"`` (Fig. 6, the Brax grid):
    ``n_points`` intermediate points, ``n_points + 2`` in all. ``grid = "inclusive"``
    (Fig. 19, the authors' ``ppo_interpolate.py`` l. 108, ``np.linspace(0, 1,
    num_interpolations, endpoint=True)``): ``n_points`` points in all, the endpoints
    included, so ``n_points - 2`` intermediate ones (``n_points >= 3``)."""
    if grid == "interior":
        inner = np.linspace(0.0, 1.0, n_points + 2)[1:-1]
    elif grid == "inclusive":
        if n_points < 3:
            raise ValueError(f"an inclusive grid of {n_points} points has no intermediate point (need >= 3)")
        inner = np.linspace(0.0, 1.0, n_points)[1:-1]
    else:
        raise ValueError(f"grid must be one of {list(BTP_GRIDS)}, got {grid!r}")
    return np.concatenate([[1.0, 0.0], inner])


def finite_point_means(returns: np.ndarray) -> np.ndarray:
    """Per-point mean of ``returns[points, perturbations]`` over its finite values (a blown-up
    perturbation is left out, not allowed to turn the point's mean into NaN); NaN for a point
    with no finite value."""
    r = np.asarray(returns, float)
    fin = np.isfinite(r)
    n = fin.sum(axis=1)
    total = np.where(fin, r, 0.0).sum(axis=1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def pair_btp(point_means: np.ndarray, fraction: float) -> tuple[float, float, float]:
    """(BTP, return_a, return_b) from the per-point mean returns on the :func:`btp_alphas`
    grid: the fraction of intermediate points below ``fraction`` x min(endpoint returns).
    BTP is NaN (undefined, left out of the aggregate) when an endpoint return is not finite or
    not positive: "below 10% of the smaller endpoint" measures a collapse between two policies
    that earn something; with a non-positive smaller endpoint the threshold is <= 0 and the
    proportion says nothing about a collapse (as LTP is undefined for a non-positive mode)."""
    ra, rb = float(point_means[0]), float(point_means[1])
    if not (np.isfinite(ra) and np.isfinite(rb)) or min(ra, rb) <= 0:
        return float("nan"), ra, rb
    return S.below_threshold_proportion(point_means[2:], ra, rb, fraction), ra, rb


# ---------------------------------------------------------------------------------------
# aggregation (numpy / rliable)
# ---------------------------------------------------------------------------------------
def below_threshold_summary(btp: pd.DataFrame, reps: int, ci: float, seed: int) -> pd.DataFrame:
    """``kind, mean, lo, hi, n_pairs, n_undefined``: mean BTP per kind with rliable 95% CIs
    (docs/design.md, section 4); pairs whose BTP is undefined (NaN: a non-finite endpoint) are left
    out and counted in ``n_undefined``."""
    from ..stats import group_means_ci

    out = group_means_ci(btp, "kind", "btp", KINDS, reps, ci, seed)
    return out.rename(columns={"n_defined": "n_pairs"})


def claim_b(btp: pd.DataFrame, same_run_btp_max: float, reps: int, ci: float, seed: int) -> dict:
    """Claim (b) of the paper (Sec. 4.1, Fig. 6) decided on the per-pair BTP table
    (``stats/below_threshold.csv``: ``env, kind, btp``, one row per pair).

    The paper: "there is on average almost no drop in return when interpolating among
    policies from the same run", while paths between policies of different runs cross
    "valleys of low return" (Fig. 6). Two halves, both tested:

    * **same-run paths show almost no drop**: the upper bound of the same-run mean BTP's
      interval is at most ``same_run_btp_max`` (config ``claims.same_run_btp_max``, default
      0.05: on average at most 5% of a same-run path below 10% of its smaller endpoint;
      the paper gives no number);
    * **different-run paths drop more**: the lower bound of the interval of the difference
      (different-run mean BTP minus same-run mean BTP) is above 0.

    Means and intervals per kind are :func:`below_threshold_summary`'s (rliable, stratified
    bootstrap with the environments as tasks; the mean is over all defined pairs). The
    difference is the difference of those two means, with a percentile interval from
    ``reps`` bootstrap resamples of the pairs, drawn with replacement within each (kind,
    environment) (seed ``seed``). Pairs with an undefined BTP (NaN: an endpoint return not
    finite or not positive, :func:`pair_btp`) are left out and counted.

    Returns ``same, same_lo, same_hi, different, different_lo, different_hi, difference,
    difference_lo, difference_hi`` (floats, NaN when a kind has no defined pair),
    ``n_same, n_different`` (defined pairs), ``n_same_undefined, n_different_undefined``,
    ``same_run_btp_max, ci``, ``holds`` (bool) and ``why`` (the failed criteria, '' when it
    holds).
    """
    missing = sorted({"env", "kind", "btp"} - set(btp.columns))
    if missing:
        raise ValueError(f"BTP table lacks column(s) {missing} (claim (b) needs one row per pair)")
    if not 0 <= float(same_run_btp_max) <= 1:
        raise ValueError(f"claims.same_run_btp_max must lie in [0, 1], got {same_run_btp_max!r}")
    summ = below_threshold_summary(btp, reps, ci, seed).set_index("kind")
    out: dict = {"same_run_btp_max": float(same_run_btp_max), "ci": float(ci)}
    for kind, name in zip(KINDS, ("same", "different")):
        r = summ.loc[kind]
        out[name], out[f"{name}_lo"], out[f"{name}_hi"] = (float(r[c]) for c in ("mean", "lo", "hi"))
        out[f"n_{name}"], out[f"n_{name}_undefined"] = int(r["n_pairs"]), int(r["n_undefined"])

    rng = np.random.default_rng(seed)
    boot = {}
    for kind in KINDS:
        groups = [g["btp"].to_numpy(float) for _, g in btp[btp["kind"] == kind].groupby("env")]
        groups = [v[np.isfinite(v)] for v in groups]
        groups = [v for v in groups if len(v)]
        n = sum(len(v) for v in groups)
        if n == 0 or int(reps) < 1:
            boot[kind] = np.full(max(int(reps), 1), np.nan)
            continue
        tot = np.zeros(int(reps))
        for v in groups:
            tot += v[rng.integers(0, len(v), (int(reps), len(v)))].sum(axis=1)
        boot[kind] = tot / n
    d = boot["different_run"] - boot["same_run"]
    out["difference"] = out["different"] - out["same"]
    if np.isfinite(d).all():
        out["difference_lo"], out["difference_hi"] = (float(x) for x in
                                                      np.percentile(d, [50 * (1 - ci), 50 * (1 + ci)]))
    else:
        out["difference_lo"] = out["difference_hi"] = float("nan")
    why = []
    if not out["n_same"] or not out["n_different"]:
        why.append("no defined BTP for " + " and ".join(
            k for k, n in (("same-run pairs", out["n_same"]), ("different-run pairs", out["n_different"])) if not n))
    else:
        if not out["same_hi"] <= out["same_run_btp_max"]:
            why.append(f"same-run BTP upper bound {out['same_hi']:.3g} > {out['same_run_btp_max']:g} "
                       "(same-run paths drop)")
        if not out["difference_lo"] > 0:
            why.append(f"difference (different - same) lower bound {out['difference_lo']:.3g} <= 0 "
                       "(different-run paths do not drop more)")
    out["holds"] = not why
    out["why"] = "; ".join(why)
    return out


def run_pairs(pairs: pd.DataFrame, load_theta: Callable, evaluate: Callable, log: Callable[[str], None],
              what: str) -> list:
    """Evaluate ``evaluate(i, row, theta_a, theta_b)`` for every pair, logging progress/ETA."""
    res, t0 = [], time.time()
    for i, row in enumerate(pairs.itertuples(index=False)):
        ta, tb = load_theta(row.seed_a, row.step_a), load_theta(row.seed_b, row.step_b)
        res.append(evaluate(i, row, ta, tb))
        el = time.time() - t0
        log(f"[{what}] pair {i + 1}/{len(pairs)} ({row.kind}: seed {row.seed_a} step {row.step_a} <-> "
            f"seed {row.seed_b} step {row.step_b}), ETA {el / (i + 1) * (len(pairs) - i - 1):.0f}s")
    return res
