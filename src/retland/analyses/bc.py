"""E12 (paper A.7, Fig. 22 and its table): do behaviour-cloned policies sit in quieter
neighbourhoods than the TD3 policies they clone?

Inputs are statistics tables (one row per policy, ``retland.stats.summarize`` columns):
the TD3 teachers' rows from E2 and the BC students' rows. Outputs:

* ``pairs``: one row per (teacher, student checkpoint): the pair (pi_{i,j}^BC, pi_i^TD3);
* ``correlations``: per environment, Pearson's correlation between teacher and student
  of the post-update mean and of the LTP (the A.7 table: corr_mean, corr_LTP);
* ``ltp_summary``: mean LTP of the TD3 teachers and of the BC students aggregated over
  environments, with rliable's stratified-bootstrap CI (Fig. 22 right).

Statistics are the bootstrapped means (``<stat>_boot_mean``) as in Fig. 2.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: the paper's A.7 table (Brax 0.0.13, 10 TD3 runs x 5 teachers x 10 students, N = 1000)
PAPER_CORRELATIONS = {
    "ant": (0.994, 0.763),
    "halfcheetah": (0.995, 0.976),
    "walker2d": (0.973, 0.218),
    "hopper": (0.753, 0.449),
}
STATS = ("mean", "ltp")
METHODS = ("td3", "bc")


def teacher_steps(checkpoints, k: int) -> list[int]:
    """``k`` teachers spread evenly over a run's sorted checkpoints (first and last
    included; paper: 5 of 10). Raises when the run has fewer than ``k`` checkpoints."""
    cks = sorted(int(s) for s in checkpoints)
    if not 1 <= k <= len(cks):
        raise ValueError(f"{k} teachers per run need at least {k} TD3 checkpoints, the run has {len(cks)}")
    if k == 1:
        return [cks[-1]]
    idx = np.rint(np.linspace(0, len(cks) - 1, k)).astype(int)
    return [cks[i] for i in idx]


def _col(df: pd.DataFrame, stat: str) -> pd.Series:
    for c in (f"{stat}_boot_mean", stat):
        if c in df.columns:
            return pd.to_numeric(df[c], errors="coerce").astype(float)
    raise KeyError(f"statistics table has neither '{stat}_boot_mean' nor '{stat}'")


def pairs(teachers: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """One row per student checkpoint, joined to its teacher on (env, seed, teacher_step):
    ``env, seed, teacher_step, student_step, teacher_<stat>, student_<stat>`` for the mean
    and the LTP. A student whose teacher has no row is an error (the inputs disagree)."""
    t = pd.DataFrame({"env": teachers["env"], "seed": teachers["seed"].astype(int),
                      "teacher_step": teachers["step"].astype(int),
                      **{f"teacher_{s}": _col(teachers, s) for s in STATS}})
    s = pd.DataFrame({"env": students["env"], "seed": students["seed"].astype(int),
                      "teacher_step": students["teacher_step"].astype(int),
                      "student_step": students["step"].astype(int),
                      **{f"student_{k}": _col(students, k) for k in STATS}})
    out = s.merge(t, on=["env", "seed", "teacher_step"], how="left", validate="many_to_one", indicator=True)
    lost = out[out["_merge"] == "left_only"]
    if len(lost):
        raise ValueError("students without a teacher row: "
                         + ", ".join(f"{r.env}/seed{r.seed}/teacher{r.teacher_step}" for r in lost.itertuples()))
    cols = ["env", "seed", "teacher_step", "student_step"] + [f"{w}_{k}" for k in STATS for w in ("teacher", "student")]
    return out[cols].sort_values(["env", "seed", "teacher_step", "student_step"]).reset_index(drop=True)


def pearson(x, y) -> float:
    """Pearson's r over the pairs where both values are finite; NaN with fewer than 2
    such pairs or when either side is constant (r is undefined)."""
    from scipy import stats as sps

    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(sps.pearsonr(x, y)[0])


def correlations(p: pd.DataFrame) -> pd.DataFrame:
    """The A.7 table: ``env, n_pairs, corr_mean, corr_ltp, n_ltp_pairs`` (pairs with both
    LTPs defined) and the paper's values beside them."""
    rows = []
    for env, g in p.groupby("env", sort=True):
        ltp_ok = np.isfinite(g["teacher_ltp"]) & np.isfinite(g["student_ltp"])
        paper = PAPER_CORRELATIONS.get(env, (float("nan"), float("nan")))
        rows.append({"env": env, "n_pairs": len(g),
                     "corr_mean": pearson(g["teacher_mean"], g["student_mean"]),
                     "corr_ltp": pearson(g["teacher_ltp"], g["student_ltp"]),
                     "n_ltp_pairs": int(ltp_ok.sum()),
                     "paper_corr_mean": paper[0], "paper_corr_ltp": paper[1]})
    return pd.DataFrame(rows, columns=["env", "n_pairs", "corr_mean", "corr_ltp", "n_ltp_pairs",
                                       "paper_corr_mean", "paper_corr_ltp"])


def correlations_markdown(table: pd.DataFrame, provenance_note: str = "") -> str:
    def f(v):
        return "n/a" if not np.isfinite(v) else f"{v:.3f}"

    lines = ["# Behaviour cloning: teacher-student correlations (paper A.7 table)", ""]
    if provenance_note:
        lines += [provenance_note, ""]
    lines += ["| env | pairs | corr_mean | corr_LTP | pairs with both LTPs | paper corr_mean | paper corr_LTP |",
              "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.env} | {r.n_pairs} | {f(r.corr_mean)} | {f(r.corr_ltp)} | {r.n_ltp_pairs} | "
                     f"{f(r.paper_corr_mean)} | {f(r.paper_corr_ltp)} |")
    lines += ["", "Pearson's r between the statistics of the post-update return distributions of each "
              "TD3 teacher and of the BC students cloned from it (bootstrapped means, as in Fig. 2); "
              "n/a: fewer than two pairs, or one side constant."]
    return "\n".join(lines) + "\n"


def ltp_summary(teachers: pd.DataFrame, students: pd.DataFrame, reps: int, ci: float, seed: int) -> pd.DataFrame:
    """Fig. 22 right: ``method, mean, lo, hi, n, n_undefined``: the mean LTP of the TD3
    teachers and of the BC students, environments as tasks (rliable stratified bootstrap);
    policies whose LTP is undefined (mode <= 0) are left out and counted."""
    from ..stats import group_means_ci

    frames = []
    for method, df in (("td3", teachers), ("bc", students)):
        frames.append(pd.DataFrame({"method": method, "env": df["env"].to_numpy(), "ltp": _col(df, "ltp").to_numpy()}))
    return group_means_ci(pd.concat(frames, ignore_index=True), "method", "ltp", METHODS, reps, ci, seed)
