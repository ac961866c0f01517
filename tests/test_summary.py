"""results/<run>/summary.md (retland.summary) and the README's quoted block."""

import json
import os
import time

import pandas as pd
import pytest

from retland import summary as SM

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "results" / "demo"
    (d / "stats").mkdir(parents=True)
    pd.DataFrame({"suite": "brax", "env": "hopper", "algo": ["td3"] * 4, "seed": [0, 0, 1, 1],
                  "step": [10, 20, 10, 20], "return": [1.0, 326.123456, 2.0, 386.5], "length": 1000}).to_csv(
        d / "stats" / "learning_curves.csv", index=False)
    pd.DataFrame({"suite": "brax", "env": "hopper", "algo": "td3", "seed": [1, 0], "step": [20, 20], "n": 200,
                  "mean": [300.0, 250.5], "std": [80.25, 12.0], "ltp": [0.14, float("nan")]}).to_csv(
        d / "stats" / "post_update.csv", index=False)
    pd.DataFrame({"claim": ["a", "b"], "statistic": ["std fold", "BTP difference"], "value": [2.5, 0.1],
                  "lo": [2.1, -0.05], "hi": [3.0, 0.2], "n": [8, 4], "holds": [True, False]}).to_csv(
        d / "stats" / "claims.csv", index=False)
    prov = {"git_commit": "abc123", "machine": {"cpu_model": "Test CPU", "arch": "x86_64", "threads": 2,
                                                 "xla_cpu_max_isa": "AVX2", "jax": "0.10.2", "jaxlib": "0.10.2"}}
    (d / "stats" / "post_update.provenance.json").write_text(json.dumps(prov))
    return d


def test_summary_has_commit_machine_returns_statistics_and_claims(run_dir):
    text = SM.build(str(run_dir))
    assert "Commit: `abc123`" in text and "Test CPU (x86_64, 2 threads)" in text and "instruction set AVX2" in text
    assert "| hopper | td3 | 326.1 | 386.5 | 20 |" in text  # final returns, seeds as columns
    assert "| hopper | td3 | 0 | 20 | 200 | 250.5 | 12 | undef. |" in text  # sorted by seed; NaN LTP said so
    assert "| a | std fold | 2.5 [2.1, 3] | 8 | holds |" in text
    assert "| b | BTP difference | 0.1 [-0.05, 0.2] | 4 | does not hold |" in text
    assert SM.build(str(run_dir)) == text  # same files, same bytes


def test_time_line_is_kept_when_a_rerun_finds_everything_done(run_dir):
    started = time.time() - 125
    os.utime(run_dir / "stats" / "claims.csv")  # a job wrote after `started`
    text = SM.write(str(run_dir), started)
    assert f"{SM.TIME_PREFIX}2 min 0" in text or f"{SM.TIME_PREFIX}2 min 05 s" in text
    line = next(x for x in text.splitlines() if x.startswith(SM.TIME_PREFIX))
    later = time.time() + 10  # nothing written since: the earlier time stays
    assert SM.write(str(run_dir), later).splitlines().count(line) == 1
    assert (run_dir / "summary.md").read_text() == SM.build(str(run_dir), line)


def test_readme_quotes_the_committed_default_summary_verbatim():
    src = "docs/results/default-summary.md"
    with open(os.path.join(REPO, src)) as f:
        want = SM.readme_block(f.read(), src)
    with open(os.path.join(REPO, "README.md")) as f:
        got = SM.readme_section(f.read(), "default")
    assert got == want, "README block differs: run `python -m retland.summary readme docs/results/default-summary.md`"


def test_update_readme_rewrites_only_the_block(tmp_path, run_dir):
    s = tmp_path / "s.md"
    s.write_text(SM.build(str(run_dir)))
    r = tmp_path / "README.md"
    r.write_text("intro\n<!-- summary:default begin -->\nstale text\n<!-- summary:default end -->\noutro\n")
    SM.update_readme(str(r), str(s), "default")
    text = r.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "stale text" not in text
    assert SM.readme_section(text, "default") == SM.readme_block(s.read_text(), str(s))
    assert "#### Final deterministic returns" in text  # headings demoted
    with pytest.raises(ValueError, match="no block"):
        SM.readme_section("nothing", "default")


def test_machine_line_says_cores_and_capped_xla_threads(run_dir):
    """`make run` caps XLA at one thread per job (RETLAND_XLA_CPU_THREADS): the summary says
    the machine's cores and the threads XLA computed on, not "1 threads"."""
    p = run_dir / "stats" / "post_update.provenance.json"
    prov = json.loads(p.read_text())
    prov["machine"].update(cores=2, threads=1)
    p.write_text(json.dumps(prov))
    assert "Test CPU (x86_64, 2 cores, XLA on 1 thread)" in SM.build(str(run_dir))
