"""The paper's three claims checked on a run's tables (results/{run}/stats/claims.md,
README "Claims"): (a) Sec. 3.1 / Fig. 2, (b) Sec. 4.1 / Fig. 6, (c) Sec. 4.2 / Fig. 7.
"""

from __future__ import annotations

import pandas as pd

from .. import provenance
from ..provenance import write_csv
from ..base.atomic import write_text
from . import log


def claims_job(stats_csv: str, btp_summary_csv: str, ltp_summary_csv: str, p: dict, stats_cfg: dict, algo: str,
               out_md: str, out_csv: str, config_record: dict | None = None) -> None:
    """The paper's three claims, checked on the produced files (see README, "Claims")."""
    from ..analyses.interpolation import similar_mean_spread

    stats = pd.read_csv(stats_csv)
    if "suite" in stats.columns:  # the claims are about the Brax study (Sec. 3-4), not E10's DMC tasks
        stats = stats[stats["suite"] == "brax"]
    btp = pd.read_csv(btp_summary_csv).set_index("kind")
    ltp = pd.read_csv(ltp_summary_csv).set_index("method")
    a = similar_mean_spread(stats, algo, p["mean_tolerance"], stats_cfg["n_boot"], stats_cfg["ci"],
                            stats_cfg["seed"])
    a_holds = bool(a["n_pairs"] > 0 and a["std_ratio_lo"] > p["std_ratio"] and a["ltp_diff_lo"] > p["ltp_diff"])
    s, d = btp.loc["same_run"], btp.loc["different_run"]
    b_holds = bool(s["hi"] < d["lo"])
    c = ltp.loc["rejection_minus_td3"] if "rejection_minus_td3" in ltp.index else None
    c_holds = bool(c is not None and c["lo"] > 0)
    ci = f"{100 * stats_cfg['ci']:g}% CI"

    def v(x):
        return f"{x:.3g}"

    rows = [
        dict(claim="a", statistic="median std ratio (max/min) of similar-mean pairs", value=a["std_ratio"],
             lo=a["std_ratio_lo"], hi=a["std_ratio_hi"], n=a["n_pairs"], holds=a_holds),
        dict(claim="a", statistic="median |LTP difference| of similar-mean pairs", value=a["ltp_diff"],
             lo=a["ltp_diff_lo"], hi=a["ltp_diff_hi"], n=a["n_pairs"], holds=a_holds),
        dict(claim="b", statistic="mean BTP, same run", value=s["mean"], lo=s["lo"], hi=s["hi"],
             n=int(s.get("n_pairs", -1)), holds=b_holds),
        dict(claim="b", statistic="mean BTP, different runs", value=d["mean"], lo=d["lo"], hi=d["hi"],
             n=int(d.get("n_pairs", -1)), holds=b_holds),
    ]
    for m in ("rejection", "td3", "rejection_minus_td3"):
        if m in ltp.index:
            r = ltp.loc[m]
            rows.append(dict(claim="c", statistic=f"mean LTP reduction, {m}", value=r["mean"], lo=r["lo"],
                             hi=r["hi"], n=int(r.get("n", -1)), holds=c_holds))
    df = pd.DataFrame(rows)
    write_csv(df, out_csv, provenance.record(config_record))

    def word(h):
        return "**holds**" if h else "**does not hold**"

    md = [f"# Claims of Sec. 4 checked at this scale ({ci}, rliable / bootstrap)", ""]
    md.append(f"(a) Policies of similar mean differ widely in std and LTP: {word(a_holds)} at this scale. "
              f"Over {a['n_pairs']} pairs of {algo} policies of one environment whose mean returns differ by at "
              f"most {100 * p['mean_tolerance']:g}%, the median std ratio is {v(a['std_ratio'])} "
              f"[{v(a['std_ratio_lo'])}, {v(a['std_ratio_hi'])}] and the median |LTP difference| "
              f"{v(a['ltp_diff'])} [{v(a['ltp_diff_lo'])}, {v(a['ltp_diff_hi'])}] (criterion: lower bounds "
              f"> {p['std_ratio']:g} and > {p['ltp_diff']:g}).")
    md.append("")
    md.append(f"(b) Same-run BTP is far below different-run BTP: {word(b_holds)} at this scale. Same run "
              f"{v(s['mean'])} [{v(s['lo'])}, {v(s['hi'])}], different runs {v(d['mean'])} "
              f"[{v(d['lo'])}, {v(d['hi'])}] (criterion: the intervals do not overlap, same run below).")
    md.append("")
    if c is None:
        md.append("(c) Algorithm 1 reduces LTP more than plain TD3: no paired runs to compare.")
    else:
        r, t = ltp.loc["rejection"], ltp.loc["td3"]
        md.append(f"(c) Algorithm 1 reduces LTP more than plain TD3: {word(c_holds)} at this scale. LTP "
                  f"reduction with rejection {v(r['mean'])} [{v(r['lo'])}, {v(r['hi'])}], plain TD3 "
                  f"{v(t['mean'])} [{v(t['lo'])}, {v(t['hi'])}], paired difference {v(c['mean'])} "
                  f"[{v(c['lo'])}, {v(c['hi'])}] over {int(c['n'])} (start policy, run) pairs "
                  f"(criterion: the difference's lower bound > 0).")
    write_text(out_md, "\n".join(md) + "\n")
    log("\n".join(md))
