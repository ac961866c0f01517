"""The paper's three claims checked on a run's tables (results/{run}/stats/claims.md and
claims.csv, docs/file-formats.md, "Claims"), each as the paper states it, with 95% intervals:

(a) Sec. 3.1 / Fig. 2: over TD3, SAC and PPO policies of a task, policies of similar mean
    show a wide range of std, skewness and LTP (``analyses.claims.claim_a``);
(b) Sec. 4.1 / Fig. 6: paths between policies of the same run show almost no drop, paths
    between different runs drop more (``analyses.interpolation.claim_b``);
(c) Sec. 4.2 / Fig. 7: Algorithm 1 reduces LTP more than plain TD3, both arms' final
    policies re-estimated with fresh keys (``analyses.rejection.claim_c``).

claims.csv: ``claim, statistic, value, lo, hi, n, holds`` (one row per reported
statistic; ``holds`` is the claim's verdict, repeated on each of its rows).
"""

from __future__ import annotations

import pandas as pd

from .. import provenance
from ..provenance import write_csv
from ..base.atomic import write_text
from ..runtime import log

#: default of claims.min_n: the fewest units (policies with a neighbour, pairs per kind,
#: (start, run) pairs) on which a claim may hold
MIN_N = 5


def _v(x) -> str:
    x = float(x)
    return "undefined" if x != x else f"{x:.3g}"


def _ci(v, lo, hi) -> str:
    return f"{_v(v)} [{_v(lo)}, {_v(hi)}]"


def _word(h: bool) -> str:
    return "**holds**" if h else "**does not hold**"


def claims_job(*, stats_csv: str, btp_csv: str, ltp_summary_csv: str, claims: dict, stats: dict, algos,
               out_md: str, out_csv: str, config_record: dict | None = None, rejection_algo: str = "td3") -> None:
    """Claims (a), (b), (c) on the produced files (module docstring). ``claims``, ``stats``:
    the config sections."""
    from ..analyses.claims import claim_a
    from ..analyses.interpolation import claim_b
    from ..analyses.rejection import claim_c

    table = pd.read_csv(stats_csv)
    if "suite" in table.columns:  # the claims are about the Brax study (Sec. 3-4), not E10's DMC tasks
        table = table[table["suite"] == "brax"]
    n_boot, ci, seed = stats["n_boot"], stats["ci"], stats["seed"]
    a = claim_a(table, claims["mean_tolerance"], claims["std_ratio"], claims["ltp_diff"], n_boot, ci, seed, algos=algos)
    b = claim_b(pd.read_csv(btp_csv), claims["same_run_btp_max"], n_boot, ci, seed)
    c = claim_c(pd.read_csv(ltp_summary_csv))
    pct = f"{100 * ci:g}%"
    # a bootstrap interval from a handful of units says nothing: below claims.min_n a claim
    # is "does not hold (too few ...)", whatever its interval
    min_n = int(claims.get("min_n", MIN_N))
    few = {"a": a["n_with_neighbour"] < min_n, "b": min(b["n_same"], b["n_different"]) < min_n,
           "c": c["n"] < min_n}
    a["holds"], b["holds"], c["holds"] = (h and not few[k] for k, h in zip("abc", (a["holds"], b["holds"],
                                                                                   c["holds"])))

    def too_few(k: str, what: str) -> str:
        return f" Too few {what} for an interval (fewer than claims.min_n = {min_n}): cannot hold." if few[k] else ""

    rows = [
        dict(claim="a", statistic="median separated std fold among similar-mean policies", value=a["std_fold"],
             lo=a["std_fold_lo"], hi=a["std_fold_hi"], n=a["n_with_neighbour"], holds=a["holds"]),
        dict(claim="a", statistic="median separated LTP spread among similar-mean policies", value=a["ltp_spread"],
             lo=a["ltp_spread_lo"], hi=a["ltp_spread_hi"], n=a["n_with_neighbour"], holds=a["holds"]),
        dict(claim="a", statistic="median separated skewness spread among similar-mean policies",
             value=a["skew_spread"], lo=a["skew_spread_lo"], hi=a["skew_spread_hi"], n=a["n_with_neighbour"],
             holds=a["holds"]),
        dict(claim="b", statistic="mean BTP, same run", value=b["same"], lo=b["same_lo"], hi=b["same_hi"],
             n=b["n_same"], holds=b["holds"]),
        dict(claim="b", statistic="mean BTP, different runs", value=b["different"], lo=b["different_lo"],
             hi=b["different_hi"], n=b["n_different"], holds=b["holds"]),
        dict(claim="b", statistic="mean BTP, different minus same run", value=b["difference"],
             lo=b["difference_lo"], hi=b["difference_hi"], n=b["n_same"] + b["n_different"], holds=b["holds"]),
    ]
    for m, label in (("rejection", "Algorithm 1"), ("td3", "plain TD3"), ("rejection_minus_td3", "difference")):
        if m in c["rows"]:
            r = c["rows"][m]
            rows.append(dict(claim="c", statistic=f"mean LTP reduction, {label} (fresh final estimates)",
                             value=r["mean"], lo=r["lo"], hi=r["hi"], n=r["n"], holds=c["holds"]))
    df = pd.DataFrame(rows, columns=["claim", "statistic", "value", "lo", "hi", "n", "holds"])
    write_csv(df, out_csv, provenance.record(config_record))

    md = [f"# The paper's claims checked at this scale ({pct} CIs)", ""]
    md.append(
        f"(a) Sec. 3.1 / Fig. 2, policies of similar mean show a wide range of std, skewness and LTP: "
        f"{_word(a['holds'])} at this scale. Over {a['n_policies']} policies of {', '.join(a['algos']).upper()} "
        f"({a['n_with_neighbour']} with a neighbour whose mean lies within {100 * a['mean_tolerance']:g}% of the "
        f"task's range of means), the median separated std fold is {_ci(a['std_fold'], a['std_fold_lo'], a['std_fold_hi'])}, "
        f"the median separated LTP spread {_ci(a['ltp_spread'], a['ltp_spread_lo'], a['ltp_spread_hi'])} and the "
        f"skewness spread {_ci(a['skew_spread'], a['skew_spread_lo'], a['skew_spread_hi'])} (only differences beyond "
        f"each policy's own {pct} interval count; intervals: bootstrap over policies). Criterion: lower bounds "
        f"> {claims['std_ratio']:g} (fold) and > {claims['ltp_diff']:g} (LTP)."
        + too_few("a", "policies with a neighbour"))
    md.append("")
    md.append(
        f"(b) Sec. 4.1 / Fig. 6, same-run paths show almost no drop and different-run paths drop more: "
        f"{_word(b['holds'])} at this scale. Mean BTP, same run {_ci(b['same'], b['same_lo'], b['same_hi'])} "
        f"({b['n_same']} pairs, {b['n_same_undefined']} undefined), different runs "
        f"{_ci(b['different'], b['different_lo'], b['different_hi'])} ({b['n_different']} pairs, "
        f"{b['n_different_undefined']} undefined), difference {_ci(b['difference'], b['difference_lo'], b['difference_hi'])}. "
        f"Criterion: same-run upper bound <= {claims['same_run_btp_max']:g} and the difference's lower bound > 0"
        + (f"; failed: {b['why']}." if b.get("why") else ".") + too_few("b", "pairs of a kind"))
    md.append("")
    if not c["rows"]:
        md.append("(c) Sec. 4.2 / Fig. 7, Algorithm 1 reduces LTP more than plain TD3: no paired runs to compare.")
    else:
        r, t, d = (c["rows"].get(k) for k in ("rejection", "td3", "rejection_minus_td3"))
        md.append(
            f"(c) Sec. 4.2 / Fig. 7, Algorithm 1 reduces LTP more than plain TD3: {_word(c['holds'])} at this "
            f"scale. LTP reduction (start minus a fresh estimate of the final policy, same N) with rejection "
            f"{_ci(r['mean'], r['lo'], r['hi'])}, plain {rejection_algo.upper()} {_ci(t['mean'], t['lo'], t['hi'])}"
            + (f", paired difference {_ci(d['mean'], d['lo'], d['hi'])} over {int(d['n'])} (start policy, run) pairs"
               if d is not None else "")
            + " (criterion: the difference's lower bound > 0)." + too_few("c", "(start policy, run) pairs"))
    write_text(out_md, "\n".join(md) + "\n")
    log("\n".join(md))
