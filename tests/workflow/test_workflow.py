"""End to end: config/ci.yaml through Snakemake in a temporary copy of the repository,
then incremental re-runs planned by dry runs, and bad configs refused before any job (slow:
every test that uses the ``workdir`` run). Fast: parsing the workflow imports no JAX, and
`make run`'s thread cap reaches every simulating job.

The run happens as on a new user's machine at its worst: libOSMesa cannot be loaded
(hidden where it is installed: tests/no_osmesa.py) while MUJOCO_GL=osmesa is set; every
job must still run, and the frames come from the fallback renderer."""

import json
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from no_osmesa import without_osmesa
from retland.base.gl import osmesa_status

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), "snakemake")
slow = pytest.mark.slow  # the tests of the end-to-end run (the workdir fixture)
# `make run`'s thread cap, as the Makefile passes it (its LOCAL_THREADS line)
LOCAL_THREADS = re.search(r"^LOCAL_THREADS \?= (.*)$", open(os.path.join(REPO, "Makefile")).read(), re.M).group(1).split()


# Without libOSMesa where it can be hidden; else (installed, not root) as the machine is.
NO_OSMESA = without_osmesa([]) is not None
RENDERER = "fallback" if NO_OSMESA or not osmesa_status()[0] else "mujoco"


def snake(cwd, *args, check=True):
    env = dict(os.environ, JAX_PLATFORMS="cpu", RETLAND_JAX_CACHE=os.path.join(cwd, "results", ".jax_cache"),
               MUJOCO_GL="osmesa")
    # as `make run` does: one scheduling slot per JAX job, so compilation overlaps simulation
    cmd = [SNAKEMAKE, *LOCAL_THREADS, "--cores", "2", *args]
    p = subprocess.run(without_osmesa(cmd) or cmd, cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=1500)
    if check and p.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


def planned(cwd, *args):
    """{rule: job count} that a dry run would execute."""
    p = snake(cwd, "-n", "--quiet", "rules", *args)
    out = p.stdout + p.stderr
    if "Nothing to be done" in out:
        return {}
    jobs = {}
    for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", out, re.M):
        if m.group(1) not in ("total", "job", "count"):
            jobs[m.group(1)] = int(m.group(2))
    return jobs


def copy_workflow(d):
    """What a Snakemake run of the repository reads, copied to directory ``d``."""
    for item in ("Snakefile", "workflow", "config", "profiles", "src", "envs"):
        src = os.path.join(REPO, item)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(
            src, os.path.join(d, item), **({"ignore": shutil.ignore_patterns("__pycache__")} if os.path.isdir(src) else {})
        )
    return str(d)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = copy_workflow(tmp_path_factory.mktemp("wf"))
    snake(d, "--configfile", "config/ci.yaml")
    return d


# ---- parsing the workflow (fast: dry runs, nothing runs) ----------------------------------

# What parsing the workflow must never load: JAX (seconds to import, a GPU runtime probing
# devices) and the package's simulating modules, which only the job scripts import.
NOT_AT_PARSE = ("jax", "jaxlib", "retland.jobs", "retland.rollout", "retland.training")
IMPORTTIME = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| ( *)(\S+)\s*$", re.M)


def import_chains(stderr, banned):
    """{banned module: the import chain that first loaded it, outermost first} from the
    stderr of `python -X importtime`, which lists a module after everything it imported,
    indented two spaces per level."""
    rows = [(len(m.group(1)), m.group(2)) for m in IMPORTTIME.finditer(stderr)]
    chains = {}
    for i, (depth, name) in enumerate(rows):
        hit = next((b for b in banned if name == b or name.startswith(b + ".")), None)
        if hit is None or hit in chains:
            continue
        chain = [name]
        for d, parent in rows[i + 1:]:
            if d < depth:
                chain.append(parent)
                depth = d
        chain.reverse()
        first = next(k for k, n in enumerate(chain) if any(n == b or n.startswith(b + ".") for b in banned))
        chains[hit] = " -> ".join(chain[: first + 1])
    return chains


@pytest.mark.parametrize("configfile", [None, "config/ci.yaml"], ids=["default", "ci"])
def test_parsing_the_workflow_imports_no_jax(tmp_path, configfile):
    """A dry run (config checks, every rule file, the DAG with every job's params) imports
    neither JAX nor the package's simulating modules: common.smk imports only JAX-free ones
    (config, the agent and suite registries, runtime flags). The default config, and ci.yaml
    for the tasks of every suite (Brax, DMC, Atari). `python -X importtime` lists every
    module the process imports and who imported it."""
    d = copy_workflow(tmp_path)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    cmd = [sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--cores", "2", "--quiet", "rules",
           *(["--configfile", configfile] if configfile else [])]
    p = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=600)
    log = "\n".join(line for line in (p.stdout + p.stderr).splitlines() if not line.startswith("import time:"))
    assert p.returncode == 0, f"dry run failed:\n{log[-4000:]}"
    assert re.search(r"^total\s+\d+\s*$", log, re.M), log[-4000:]  # the jobs were planned
    modules = {name for _, name in IMPORTTIME.findall(p.stderr)}
    assert {"snakemake", "retland.config", "retland.agents", "retland.base.envs"} <= modules  # importtime works
    chains = import_chains(p.stderr, NOT_AT_PARSE)
    assert not chains, "parsing the workflow imported:\n  " + "\n  ".join(sorted(set(chains.values())))


def planned_threads(cwd, *args):
    """{rule: set of the thread counts of its jobs} of a dry run (a job shows `threads:`
    when it has more than one)."""
    p = subprocess.run([SNAKEMAKE, "-n", "--cores", "2", *args], cwd=cwd, env=dict(os.environ, JAX_PLATFORMS="cpu"),
                       capture_output=True, text=True, timeout=600)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-4000:]
    threads = {}
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", out, flags=re.M)[1:]:
        rule = re.match(r"(?:local)?rule (\w+):", block).group(1)
        m = re.search(r"^\s+threads: (\d+)$", block, re.M)
        threads.setdefault(rule, set()).add(int(m.group(1)) if m else 1)
    return threads


def test_make_run_gives_every_job_one_thread(tmp_path):
    """`make run` lets two simulating jobs share 2 cores: with the Makefile's LOCAL_THREADS
    every job has one thread, those of the rules generated per seed list or checkpoint
    schedule (train_atari, post_update_ppo_atari) included; without it (the SLURM profile)
    the simulating jobs keep the threads their rules ask for. ci.yaml with the Atari game's
    own seeds: every rule of the workflow, train_atari too."""
    d = copy_workflow(tmp_path)
    with open(os.path.join(d, "config", "atari_seeds.yaml"), "w") as f:
        yaml.safe_dump({"suites": {"atari": {"seeds": [0, 2]}}}, f)
    cfg = ["--configfile", "config/ci.yaml", "config/atari_seeds.yaml"]
    own = planned_threads(d, *cfg)
    simulating = {r for r, t in own.items() if max(t) > 1}
    assert {"train", "train_atari", "post_update_td3", "post_update_sac", "post_update_ppo", "post_update_ppo_atari",
            "landscape", "failures", "start_states", "interpolation", "rejection", "bc_train", "bc_post_update",
            "atari_below_threshold"} <= simulating, own
    local = planned_threads(d, *cfg, *LOCAL_THREADS)
    assert set(local) == set(own) and all(t == {1} for t in local.values()), local


def write_cfg(workdir, name, **changes):
    c = yaml.safe_load(open(os.path.join(workdir, "config", "ci.yaml")))
    for path, value in changes.items():
        node = c
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    p = os.path.join(workdir, "config", name)
    yaml.safe_dump(c, open(p, "w"))
    return os.path.join("config", name)


@slow
def test_outputs_follow_the_contracts(workdir):
    res = os.path.join(workdir, "results", "ci")
    with h5py.File(os.path.join(res, "train", "hopper", "td3", "seed1.h5")) as f:
        assert f.attrs["complete"] and f.attrs["backend"] == "spring" and "provenance" in f.attrs
        assert sorted(f["checkpoints"]) == ["step1200", "step600"]
    for s in (0, 1):
        for k in (600, 1200):
            with h5py.File(os.path.join(res, "post_update", "hopper", "td3", f"seed{s}", f"step{k}.h5")) as f:
                assert f["returns"].dtype == np.float64 and f["returns"].shape == (16,)
                assert f["lengths"].shape == (16,) and f.attrs["horizon"] == 100
    df = pd.read_csv(os.path.join(res, "stats", "post_update.csv"))
    need = ["suite", "env", "algo", "seed", "step", "n", "n_nonfinite", "mean", "std", "skewness", "mode",
            "ltp", "cvar_0.1"]
    need += [f"{s}_{x}" for s in ("mean", "std", "skewness", "mode", "ltp", "cvar_0.1")
             for x in ("boot_mean", "lo", "hi")]
    assert set(need) <= set(df.columns)
    # hopper: 3 algos; quadruped-walk: TD3, SAC; pong: PPO (suites.atari: N 4)
    assert len(df) == 12 + 8 + 4 and (df["n"] == np.where(df["env"] == "pong", 4, 16)).all()
    assert df.groupby("env")["algo"].apply(lambda s: sorted(set(s))).to_dict() == {
        "hopper": ["ppo", "sac", "td3"], "quadruped-walk": ["sac", "td3"], "pong": ["ppo"]}
    assert set(df.loc[df["env"] == "quadruped-walk", "suite"]) == {"dmc"}
    assert set(df.loc[df["env"] == "pong", "suite"]) == {"atari"}
    assert df.groupby(["algo", "suite"])["step"].apply(lambda s: sorted(set(s))).to_dict() == {
        ("td3", "brax"): [600, 1200], ("sac", "brax"): [600, 1200], ("td3", "dmc"): [600, 1200],
        ("sac", "dmc"): [600, 1200], ("ppo", "brax"): [2048, 4096], ("ppo", "atari"): [32, 64]}
    with h5py.File(os.path.join(res, "train", "hopper", "ppo", "seed0.h5")) as f:
        assert sorted(f["checkpoints"]) == ["step2048", "step4096"] and f.attrs["complete"]
    figs = os.path.join(workdir, "paper_figures", "ci")
    for name in ("fig02_scatter_hopper", "fig02_histograms_hopper", "extra_learning_curves",
                 "fig02_scatter_quadruped-walk", "fig02_histograms_quadruped-walk"):  # Fig. 14 (E10)
        for ext in ("png", "pdf"):
            assert os.path.getsize(os.path.join(figs, f"{name}.{ext}")) > 5000
    leftovers = [f for _, _, fs in os.walk(res) for f in fs if ".tmp" in f]
    assert leftovers == []


@slow
def test_atari_outputs(workdir):
    """E11: PPO trained host-stepped on pong with its suite's own schedule, the authors'
    Atari post-update, Fig. 19's per-pair table (E7 code) and its rliable summary, and the
    Fig. 19-21 files; no E3-E9 analysis of the game."""
    res = os.path.join(workdir, "results", "ci")
    with h5py.File(os.path.join(res, "train", "pong", "ppo", "seed1.h5")) as f:
        assert f.attrs["complete"] and f.attrs["suite"] == "atari" and f.attrs["backend"] == "ale"
        assert f.attrs["episode_length"] == 50 and sorted(f["checkpoints"]) == ["step32", "step64"]
        cfg = json.loads(f.attrs["agent_config"])
        assert (cfg["torso"], cfg["actions"], cfg["cnn_channels"], cfg["anneal_lr_steps"]) == (
            "nature_cnn", "discrete", [4, 8, 8], 10_000_000)
        assert cfg["post_update_protocol"] == "authors_atari"
    with h5py.File(os.path.join(res, "post_update", "pong", "ppo", "seed0", "step64.h5")) as f:
        assert f.attrs["suite"] == "atari" and f["returns"].shape == (4,) and f.attrs["horizon"] == 30
        # the authors' Atari return (return_definition authors) counts horizon + 1 environment calls
        longest = 31 if f.attrs.get("return_definition") == "authors" else 30
        assert np.isfinite(f["returns"][()]).all() and ((f["lengths"][()] >= 1) & (f["lengths"][()] <= longest)).all()
    btp = pd.read_csv(os.path.join(res, "atari", "pong", "btp_pairs.csv"))
    assert set(btp["kind"]) == {"same_run", "different_run"} and (btp.groupby("kind").size() == 2).all()
    assert {"btp", "return_a", "return_b", "seed_a", "step_a", "seed_b", "step_b"} <= set(btp.columns)
    assert ((btp["btp"].isna()) | btp["btp"].between(0, 1)).all()
    summary = pd.read_csv(os.path.join(res, "stats", "below_threshold_atari_summary.csv"))
    assert set(summary["kind"]) == {"same_run", "different_run"}
    assert (summary["n_pairs"] + summary["n_undefined"] == 2).all()
    figs = os.path.join(workdir, "paper_figures", "ci")
    for name in ("fig19_below_threshold_atari", "fig20_histograms_atari", "fig21_scatter_atari"):
        for ext in ("png", "pdf"):
            assert os.path.getsize(os.path.join(figs, f"{name}.{ext}")) > 5000
    assert not os.path.exists(os.path.join(figs, "fig02_scatter_pong.png"))
    assert not os.path.exists(os.path.join(res, "interpolation", "pong"))


@slow
def test_dmc_outputs(workdir):
    """E10: TD3 and SAC trained host-stepped on quadruped-walk (the simulator recorded as its
    backend), their post-update files, and no E3-E9 analysis of the DMC task."""
    res = os.path.join(workdir, "results", "ci")
    for algo in ("td3", "sac"):
        with h5py.File(os.path.join(res, "train", "quadruped-walk", algo, "seed1.h5")) as f:
            assert f.attrs["complete"] and f.attrs["suite"] == "dmc" and f.attrs["backend"] == "mujoco"
            assert sorted(f["checkpoints"]) == ["step1200", "step600"] and f["replay/obs"].shape == (1200, 78)
        with h5py.File(os.path.join(res, "post_update", "quadruped-walk", algo, "seed0", "step1200.h5")) as f:
            assert f.attrs["suite"] == "dmc" and f["returns"].shape == (16,)
            assert np.isfinite(f["returns"][()]).all() and (f["lengths"][()] == 100).all()
    assert not os.path.exists(os.path.join(res, "train", "quadruped-walk", "ppo"))  # PPO runs on Brax and Atari, not DMC
    assert not os.path.exists(os.path.join(res, "landscape", "quadruped-walk"))
    log = open(os.path.join(res, "logs", "train", "quadruped-walk", "td3.log")).read()
    assert "host-stepped" in log


@slow
def test_changing_the_brax_backend_retrains_only_brax_tasks(workdir):
    cfg = write_cfg(workdir, "ci_backend.yaml", backend="positional")
    jobs = planned(workdir, "--configfile", cfg)
    assert jobs.get("train") == 3, jobs  # hopper x 3 algos; quadruped-walk runs on MuJoCo


@slow
def test_frames_without_libosmesa_come_from_the_fallback(workdir):
    """MUJOCO_GL=osmesa with no loadable libOSMesa: the geometry jobs ran, said why, and drew
    their frames with the fallback renderer (MuJoCo frames where the library is there)."""
    res = os.path.join(workdir, "results", "ci")
    for path in ("landscape/hopper/landscape.h5", "failures/hopper/trajectories.h5"):
        with h5py.File(os.path.join(res, path)) as f:
            assert f.attrs["renderer"] == RENDERER, path
    if RENDERER == "fallback":
        log = open(os.path.join(res, "logs", "landscape", "hopper.log")).read()
        assert "MUJOCO_GL=osmesa, but libOSMesa" in log and "FALLBACK renderer" in log


@slow
def test_a_killed_run_continues_with_the_same_command(workdir):
    """A run killed with SIGKILL leaves Snakemake's lock: `make run` (retland.unlock, then
    snakemake) removes it, saying so, and finishes the work; a live run's lock is kept."""
    figs = os.path.join(workdir, "paper_figures", "ci")
    target = os.path.join(figs, "extra_learning_curves.png")
    os.remove(target)
    locks = os.path.join(workdir, ".snakemake", "locks")
    os.makedirs(locks, exist_ok=True)
    with open(os.path.join(locks, "0.output.lock"), "w") as f:  # what a killed run leaves
        f.write(os.path.relpath(target, workdir) + "\n")
    with open(os.path.join(locks, "0.input.lock"), "w") as f:
        f.write("")
    p = snake(workdir, "--configfile", "config/ci.yaml", check=False)
    assert p.returncode != 0 and "LockException" in p.stdout + p.stderr  # what the user used to see
    live = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 60"], cwd=workdir)
    try:
        import time

        time.sleep(0.5)
        u = subprocess.run([sys.executable, "-m", "retland.unlock", "."], cwd=workdir, capture_output=True, text=True)
        assert "running in this directory" in u.stdout and os.listdir(locks)
    finally:
        live.kill()
        live.wait()
    u = subprocess.run([sys.executable, "-m", "retland.unlock", "."], cwd=workdir, capture_output=True, text=True)
    assert u.returncode == 0 and "removed the stale lock" in u.stdout and not os.listdir(locks)
    snake(workdir, "--configfile", "config/ci.yaml")
    assert os.path.getsize(target) > 5000 and planned(workdir, "--configfile", "config/ci.yaml") == {}


@slow
def test_bc_outputs(workdir):
    """E12 (Fig. 22): 2 runs x 2 teachers x 2 student checkpoints, paired with their teachers."""
    res = os.path.join(workdir, "results", "ci")
    with h5py.File(os.path.join(res, "bc", "train", "hopper", "seed1", "teacher1200.h5")) as f:
        assert f.attrs["complete"] and f.attrs["algo"] == "bc" and int(f.attrs["teacher_step"]) == 1200
        assert sorted(f["checkpoints"]) == ["step100", "step200"] and "provenance" in f.attrs
    pairs = pd.read_csv(os.path.join(res, "stats", "bc_pairs.csv"))
    assert len(pairs) == 8 and sorted(set(pairs["teacher_step"])) == [600, 1200]
    corr = pd.read_csv(os.path.join(res, "stats", "bc_correlations.csv"))
    assert list(corr["env"]) == ["hopper"] and int(corr["n_pairs"].iloc[0]) == 8
    ltp = pd.read_csv(os.path.join(res, "stats", "bc_ltp.csv"))
    assert list(ltp["method"]) == ["td3", "bc"]
    assert os.path.exists(os.path.join(res, "stats", "bc_pairs.provenance.json"))
    assert "| hopper | 8 |" in open(os.path.join(res, "stats", "bc_correlations.md")).read()
    figs = os.path.join(workdir, "paper_figures", "ci")
    for name in ("fig22_bc_pairs", "fig22_bc_ltp"):
        for ext in ("png", "pdf"):
            assert os.path.getsize(os.path.join(figs, f"{name}.{ext}")) > 5000


@slow
def test_changing_bc_reruns_bc_not_td3(workdir):
    cfg = write_cfg(workdir, "ci_bc.yaml", bc__dropout=0.2)
    jobs = planned(workdir, "--configfile", cfg)
    assert jobs.get("bc_train") == 2 and jobs.get("bc_post_update") == 2
    assert {"bc_stats", "fig22_bc"} <= set(jobs)
    assert not {"train", "post_update_td3", "post_update_stats"} & set(jobs), jobs
    cfg = write_cfg(workdir, "ci_bcn.yaml", bc__n_samples=9)  # the students stay
    jobs = planned(workdir, "--configfile", cfg)
    assert "bc_train" not in jobs and jobs.get("bc_post_update") == 2


@slow
def test_nothing_to_do_after_a_full_run(workdir):
    assert planned(workdir, "--configfile", "config/ci.yaml") == {}


@slow
def test_changing_n_samples_reruns_post_update_not_training(workdir):
    cfg = write_cfg(workdir, "ci_n.yaml", post_update__n_samples=20)
    jobs = planned(workdir, "--configfile", cfg)
    assert jobs.get("post_update_td3") == jobs.get("post_update_sac") == 4, jobs  # hopper and quadruped-walk
    assert jobs.get("post_update_ppo") == 2, jobs
    assert "post_update_stats" in jobs and "fig02_scatter" in jobs
    assert "train" not in jobs and "learning_curves" not in jobs and "extra_learning_curves" not in jobs


@slow
def test_changing_a_figure_setting_reruns_only_figures(workdir):
    cfg = write_cfg(workdir, "ci_dpi.yaml", figures__dpi=61)
    jobs = planned(workdir, "--configfile", cfg)
    figs = set(jobs) - {"all"}
    assert {"fig02_scatter", "extra_learning_curves", "fig01_landscape", "fig05_interpolation"} <= figs
    # only figure rules: no training, post-update, statistics or other simulation
    assert all(j.startswith(("fig", "extra_")) for j in figs), figs


@slow
def test_changing_training_reruns_everything_downstream(workdir):
    cfg = write_cfg(workdir, "ci_t.yaml", agents__td3__batch_size=32)
    jobs = planned(workdir, "--configfile", cfg)
    assert {"train", "post_update_td3", "post_update_stats", "fig02_scatter"} <= set(jobs)
    # only TD3 retrains (on both tasks): the other algorithms' runs are untouched
    assert jobs["train"] == 2 and "post_update_sac" not in jobs and "post_update_ppo" not in jobs


@slow
def test_changing_a_task_variant_retrains_that_task(workdir):
    cfg = write_cfg(workdir, "ci_kw.yaml", env_kwargs={"hopper": {"n_frames": 10}})
    jobs = planned(workdir, "--configfile", cfg)
    assert jobs.get("train") == 3 and all(jobs.get(f"post_update_{a}") == 2 for a in ("td3", "sac", "ppo"))


@slow
def test_task_variant_is_recorded(workdir):
    res = os.path.join(workdir, "results", "ci")
    ci = yaml.safe_load(open(os.path.join(REPO, "config", "ci.yaml")))
    want = {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in ci["env_kwargs"]["hopper"].items()}
    with h5py.File(os.path.join(res, "train", "hopper", "td3", "seed0.h5")) as f:
        assert json.loads(f.attrs["env_kwargs"]) == want
    with h5py.File(os.path.join(res, "post_update", "hopper", "td3", "seed0", "step600.h5")) as f:
        assert json.loads(f.attrs["env_kwargs"]) == want


@slow
def test_ppo_training_length_is_its_own(workdir):
    cfg = write_cfg(workdir, "ci_ppo.yaml", train__ppo__total_steps=8192, train__ppo__checkpoints=[4096, 8192])
    jobs = planned(workdir, "--configfile", cfg)
    assert jobs.get("train") == 1 and jobs.get("post_update_ppo") == 2
    assert "post_update_td3" not in jobs and "post_update_sac" not in jobs


@slow
def test_paper_config_plans_every_training_run(workdir):
    """config/paper.yaml: TD3, SAC and PPO on the four Brax tasks, TD3 and SAC on the five
    DMC tasks of A.5 (E1, E10), 20 seeds x 10 checkpoints; PPO on the four Atari games of
    A.6 (E11), 5 runs x 10 checkpoints."""
    jobs = planned(workdir, "--configfile", "config/paper.yaml")
    assert jobs["train"] == 4 * 3 + 5 * 2 and jobs["train_atari"] == 4
    assert jobs["bc_train"] == jobs["bc_post_update"] == 4 * 10  # E12: 10 TD3 runs per Brax env
    assert jobs["post_update_td3"] == jobs["post_update_sac"] == 9 * 20 and jobs["post_update_ppo"] == 4 * 20
    assert jobs["post_update_ppo_atari"] == 4 * 5 and jobs["atari_below_threshold"] == 4
    assert jobs["fig02_scatter"] == 9  # Fig. 2, 11-13 and 14-18
    assert jobs["fig19_below_threshold_atari"] == jobs["fig20_fig21_atari"] == 1


@slow
def test_appendix_config_plans_the_five_dmc_tasks_and_the_four_atari_games(workdir):
    jobs = planned(workdir, "--configfile", "config/appendix.yaml")
    assert jobs["train"] == 10 + 4 and jobs["post_update_td3"] == jobs["post_update_sac"] == 10
    assert jobs["post_update_ppo_atari"] == 4 * 2 and "post_update_ppo" not in jobs  # PPO on Atari only
    assert jobs["atari_below_threshold"] == 4 and jobs["atari_below_threshold_stats"] == 1
    assert jobs["fig19_below_threshold_atari"] == jobs["fig20_fig21_atari"] == 1
    assert jobs["fig02_scatter"] == 5 and not {"landscape", "interpolation", "bc_train", "claims"} & set(jobs)


@slow
@pytest.mark.parametrize("change, message", [
    ({"post_update__horizon": 0}, "post_update.horizon"),
    ({"seeds": []}, "seeds"),
    ({"train__checkpoints": [600, 5000]}, "train.checkpoints"),
    ({"train__ppo__checkpoints": [2048, 9999]}, "train.ppo.checkpoints"),
    ({"algos": ["td3", "dqn"]}, "algos.1"),
    ({"envs": ["tetris"]}, "'envs': unknown environment 'tetris'"),
    ({"envs": ["quadruped-walk"], "algos": ["ppo"]}, "'algos': ppo runs in suites ['brax', 'atari']"),
    ({"envs": ["breakot"]}, "'envs': unknown environment 'breakot'"),
    ({"run": ".."}, "'run'"),
    ({"run": "."}, "'run'"),
    ({"run": "a/b"}, "'run'"),
    ({"env_kwargs": {"hopper": {"n_frame": 10}}}, "env_kwargs.hopper.n_frame"),
    ({"env_kwargs": {"hopper": {"healthy_angle_range": [1, -1]}}}, "env_kwargs.hopper.healthy_angle_range"),
])
def test_bad_config_refused_before_any_job(workdir, change, message):
    cfg = write_cfg(workdir, "ci_bad.yaml", **change)
    p = snake(workdir, "-n", "--configfile", cfg, check=False)
    assert p.returncode != 0
    assert message in p.stdout + p.stderr


@slow
def test_corrupt_training_file_is_named(workdir, tmp_path):
    from retland.base.checkpoints import CheckpointError
    from retland.jobs.post_update import post_update_job

    src = os.path.join(workdir, "results", "ci", "train", "hopper", "td3", "seed0.h5")
    bad = str(tmp_path / "seed0.h5")
    data = open(src, "rb").read()
    open(bad, "wb").write(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="seed0.h5"):
        post_update_job(train_path=bad, seed=0, steps=[600],
                        post_update={"n_samples": 4, "horizon": 10, "chunk_size": 4, "sample_seed": 0},
                        out_h5=[str(tmp_path / "out.h5")])
    assert not os.path.exists(tmp_path / "out.h5")


@slow
def test_highlight_reruns_only_fig02(workdir):
    cfg = write_cfg(workdir, "ci_hl.yaml", figures__highlight=2)
    assert set(planned(workdir, "--configfile", cfg)) - {"all"} == {"fig02_scatter"}


@slow
def test_resume_frequency_never_reruns(workdir):
    cfg = write_cfg(workdir, "ci_resume.yaml", train__resume_every_minutes=3)
    assert planned(workdir, "--configfile", cfg) == {}


@slow
def test_every_table_carries_its_provenance(workdir):
    stats = os.path.join(workdir, "results", "ci", "stats")
    for name in os.listdir(stats):
        if name.endswith(".csv"):
            side = os.path.join(stats, name[:-4] + ".provenance.json")
            assert os.path.exists(side), name
            prov = json.load(open(side))
            assert prov["config"]["run"] == "ci" and "git_commit" in prov and "versions" in prov, name
            if name == "post_update.csv" and "RETLAND_XLA_CPU_THREADS" not in os.environ:
                assert prov["machine"]["threads"] == 1  # workflow/rules/common.smk: one XLA thread per job
