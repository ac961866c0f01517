"""``results/<run>/summary.md``: the numbers of a finished run on one page, written and
printed at the end of ``make run`` (docs/numbers-that-travel.md).

It holds the commit and machine the numbers were computed on (from the outputs' own
provenance), the time the workflow took, the final deterministic return of every (task,
algorithm, seed), the post-update statistics of every policy (mean, std, LTP), the BC
correlations (E12) and the claims table with "holds" / "does not hold". Numbers are
printed with a fixed format, so the same run gives the same bytes.

The README quotes the default run's summary verbatim between the markers
``<!-- summary:default begin -->`` and ``<!-- summary:default end -->``; the quoted file is
``docs/results/default-summary.md`` (from a fresh clone's ``make run``), and
``python -m retland.summary readme docs/results/default-summary.md`` rewrites the block
(``tests/test_summary.py`` checks that they agree).

    python -m retland.summary write results/default [--started EPOCH]   # write + print
    python -m retland.summary readme docs/results/default-summary.md    # README block
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import time

import numpy as np
import pandas as pd

from .portability import cores_threads

TIME_PREFIX = "- Time taken: "


def _num(x, digits: int = 4) -> str:
    x = float(x)
    if not np.isfinite(x):
        return "undef." if np.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.{digits}g}"


def _ci(v, lo, hi) -> str:
    return f"{_num(v)} [{_num(lo)}, {_num(hi)}]"


def _provenance(run_dir: str) -> dict:
    for name in ("post_update", "claims", "learning_curves"):
        p = os.path.join(run_dir, "stats", f"{name}.provenance.json")
        if os.path.exists(p):
            with open(p) as f:
                return json.load(f)
    return {}


def _md_table(df: pd.DataFrame) -> list[str]:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return out


def format_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 60} min {s % 60:02d} s"


def final_returns(curves: pd.DataFrame) -> pd.DataFrame:
    """Final deterministic return (last learning-curve point) per (env, algo), seeds as columns."""
    last = curves.sort_values("step").groupby(["env", "algo", "seed"]).tail(1)
    piv = last.pivot_table(index=["env", "algo"], columns="seed", values="return", aggfunc="first")
    out = piv.reset_index()
    out.columns = ["task", "algo"] + [f"seed {c}" for c in piv.columns]
    for c in out.columns[2:]:
        out[c] = [_num(x) for x in out[c]]
    out["final step"] = [int(last[(last["env"] == e) & (last["algo"] == a)]["step"].max())
                         for e, a in zip(out["task"], out["algo"])]
    return out


def build(run_dir: str, time_line: str | None = None) -> str:
    """The summary of the finished run in ``run_dir`` (results/<run>)."""
    stats_dir = os.path.join(run_dir, "stats")
    run = os.path.basename(os.path.normpath(run_dir))
    prov = _provenance(run_dir)
    m = prov.get("machine") or {}
    lines = [f"# Run `{run}`: summary", ""]
    lines.append(f"- Commit: `{prov.get('git_commit', 'unknown')}` (provenance of `stats/post_update.csv`)")
    if m:
        lines.append(f"- Machine: {m.get('cpu_model')} ({m.get('arch')}, {cores_threads(m)}); XLA CPU "
                     f"instruction set {m.get('xla_cpu_max_isa')}; jax {m.get('jax')} / jaxlib {m.get('jaxlib')}")
    lines.append(time_line or f"{TIME_PREFIX}not recorded (`make run` records it)")
    lines.append("")
    p = os.path.join(stats_dir, "learning_curves.csv")
    if os.path.exists(p):
        lines += ["## Final deterministic returns (E1)", ""] + _md_table(final_returns(pd.read_csv(p))) + [""]
    p = os.path.join(stats_dir, "post_update.csv")
    if os.path.exists(p):
        st = pd.read_csv(p).sort_values(["env", "algo", "seed", "step"])
        t = pd.DataFrame({"task": st["env"], "algo": st["algo"], "seed": st["seed"], "step": st["step"],
                          "N": st["n"], "mean": [_num(x) for x in st["mean"]],
                          "std": [_num(x) for x in st["std"]], "LTP": [_num(x, 3) for x in st["ltp"]]})
        lines += ["## Post-update return distributions (E2, Fig. 2)", ""] + _md_table(t) + [""]
    p = os.path.join(stats_dir, "bc_correlations.csv")
    if os.path.exists(p):
        c = pd.read_csv(p)
        t = pd.DataFrame({"task": c["env"], "pairs": c["n_pairs"], "corr mean": [_num(x, 3) for x in c["corr_mean"]],
                          "corr LTP": [_num(x, 3) for x in c["corr_ltp"]]})
        lines += ["## Behaviour cloning (E12, A.7)", ""] + _md_table(t) + [""]
        p2 = os.path.join(stats_dir, "bc_ltp.csv")
        if os.path.exists(p2):
            b = pd.read_csv(p2)
            if {"method", "mean", "lo", "hi"} <= set(b.columns):
                lines += ["Mean LTP (95% CI): " + "; ".join(f"{r.method} {_ci(r.mean, r.lo, r.hi)}"
                                                            for r in b.itertuples(index=False)), ""]
    p = os.path.join(stats_dir, "claims.csv")
    if os.path.exists(p):
        c = pd.read_csv(p)
        t = pd.DataFrame({"claim": c["claim"], "statistic": c["statistic"],
                          "value [95% CI]": [_ci(*r) for r in zip(c["value"], c["lo"], c["hi"])],
                          "n": c["n"], "holds": ["holds" if h else "does not hold" for h in c["holds"]]})
        lines += ["## The paper's claims at this scale (`stats/claims.md`)", ""] + _md_table(t) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _previous_time_line(path: str) -> str | None:
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.startswith(TIME_PREFIX):
                    return line.rstrip("\n")
    return None


def jobs_ran_since(run_dir: str, started: float, skip=("summary.md",)) -> bool:
    """Whether any output of ``run_dir`` was written at or after ``started`` (epoch s)."""
    for p in glob.glob(os.path.join(run_dir, "**", "*"), recursive=True):
        if os.path.basename(p) in skip or not os.path.isfile(p):
            continue
        if os.path.getmtime(p) >= started:
            return True
    return False


def write(run_dir: str, started: float | None = None, out: str | None = None) -> str:
    """Write ``run_dir/summary.md`` atomically and return it. With ``started`` (when the
    workflow began), the time line is this invocation's when it ran jobs, else the
    previous summary's (a re-run that finds everything done keeps the real time)."""
    from .base.atomic import write_text

    out = out or os.path.join(run_dir, "summary.md")
    time_line = None
    if started is not None:
        if jobs_ran_since(run_dir, started):
            time_line = (f"{TIME_PREFIX}{format_seconds(time.time() - started)} (workflow of `make run`: "
                         f"compilation included, venv creation excluded)")
        else:
            time_line = _previous_time_line(out)
    text = build(run_dir, time_line)
    write_text(out, text)
    return text


BEGIN, END = "<!-- summary:{name} begin -->", "<!-- summary:{name} end -->"


def readme_block(summary_text: str, source: str) -> str:
    """The README's quoted block: the summary with its headings two levels down."""
    body = re.sub(r"^(#+) ", lambda mt: "#" * (len(mt.group(1)) + 2) + " ", summary_text, flags=re.M)
    return f"(verbatim from `{source}`, regenerated by `python -m retland.summary readme {source}`)\n\n{body}"


def readme_section(readme_text: str, name: str) -> str:
    b, e = BEGIN.format(name=name), END.format(name=name)
    if b not in readme_text or e not in readme_text:
        raise ValueError(f"README has no block {b} ... {e}")
    return readme_text.split(b, 1)[1].split(e, 1)[0].strip("\n") + "\n"


def update_readme(readme_path: str, summary_path: str, name: str) -> None:
    with open(readme_path) as f:
        text = f.read()
    with open(summary_path) as f:
        block = readme_block(f.read(), summary_path)
    b, e = BEGIN.format(name=name), END.format(name=name)
    readme_section(text, name)  # the markers exist
    head, rest = text.split(b, 1)
    tail = rest.split(e, 1)[1]
    from .base.atomic import write_text

    write_text(readme_path, f"{head}{b}\n{block}{e}{tail}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="write and print results/<run>/summary.md")
    w.add_argument("run_dir")
    w.add_argument("--started", type=float, default=None, help="epoch seconds when the workflow began")
    r = sub.add_parser("readme", help="rewrite the README block quoting a summary file")
    r.add_argument("summary")
    r.add_argument("--readme", default="README.md")
    r.add_argument("--name", default="default")
    a = ap.parse_args(argv)
    if a.cmd == "write":
        if not os.path.isdir(a.run_dir):
            sys.exit(f"summary: {a.run_dir}: no such run directory")
        sys.stdout.write(write(a.run_dir, a.started))
    else:
        update_readme(a.readme, a.summary, a.name)
        print(f"{a.readme}: block '{a.name}' now quotes {a.summary}")


if __name__ == "__main__":
    main()
