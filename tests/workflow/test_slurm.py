"""profiles/slurm on a real one-node SLURM cluster (tests/slurm_cluster.sh: Debian's slurm-wlm
and munge, slurmctld and slurmd on localhost), and the profile's partition/account logic.

The cluster tests need root (they install and start SLURM); elsewhere they are skipped with
the reason. RETLAND_REQUIRE_SLURM=1 turns "cannot start SLURM" into an error (for CI
machines that are meant to run them)."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import collections

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SNAKEMAKE = os.path.join(os.path.dirname(sys.executable), "snakemake")
CLUSTER = os.path.join(REPO, "tests", "slurm_cluster.sh")
PROFILE = os.path.join(REPO, "profiles", "slurm", "config.yaml")
# The E1/E2 part of the ci pipeline (TD3) through the profile: simulating rules go through
# sbatch, tables and figures stay local.
REMOTE_JOBS = {"train": 1, "post_update_td3": 2}
REMOTE_RULES = set(REMOTE_JOBS)
LOCAL_RULES = {"learning_curves", "post_update_stats", "fig02_scatter", "extra_learning_curves"}
E2_TARGETS = [f"paper_figures/ci/{n}.png" for n in ("fig02_scatter_hopper", "extra_learning_curves")]
# ci.yaml inherits 8000 MB per heavy job from config.yaml; the test node may be small, so the
# cluster run asks for less (also checks that resources.* reach sbatch).
TEST_RESOURCES = {"gpu": False, "train_mem_mb": 2000, "train_runtime": 15,
                  "post_update_mem_mb": 2000, "post_update_runtime": 15}


# ---- the profile itself (no cluster needed) -------------------------------------------

def read_profile(monkeypatch, cwd, env=None):
    """The profile as Snakemake reads it, from `cwd`, with only `env` of the SLURM variables set."""
    from snakemake.profiles import ProfileConfigFileParser

    for var in ("SBATCH_PARTITION", "SBATCH_ACCOUNT", "RETLAND_SLURM_SITE"):
        monkeypatch.delenv(var, raising=False)
    for var, value in (env or {}).items():
        monkeypatch.setenv(var, value)
    monkeypatch.chdir(cwd)
    with open(PROFILE) as f:
        parsed = ProfileConfigFileParser().parse(f)
    resources = dict(r.split("=", 1) for r in parsed["default-resources"])
    return parsed, resources


def test_profile_without_site_settings_uses_cluster_defaults(monkeypatch, tmp_path):
    parsed, res = read_profile(monkeypatch, tmp_path)
    assert parsed["executor"] == "slurm"
    assert {"runtime", "mem_mb", "cpus_per_task"} <= set(res)
    assert "slurm_partition" not in res and "slurm_account" not in res
    assert "slurm-no-account" not in parsed
    assert "software-deployment-method" not in parsed  # could not be switched off again


def test_profile_reads_site_file_and_environment_wins(monkeypatch, tmp_path):
    (tmp_path / "profiles" / "slurm").mkdir(parents=True)
    (tmp_path / "profiles" / "slurm" / "site.yaml").write_text("partition: cpu-long\naccount: proj1\n")
    _, res = read_profile(monkeypatch, tmp_path)
    assert res["slurm_partition"] == "'cpu-long'" and res["slurm_account"] == "'proj1'"
    _, res = read_profile(monkeypatch, tmp_path, {"SBATCH_PARTITION": "gpu", "SBATCH_ACCOUNT": "proj2"})
    assert res["slurm_partition"] == "'gpu'" and res["slurm_account"] == "'proj2'"
    other = tmp_path / "elsewhere.yaml"
    other.write_text("partition: p3\nno_account: true\n")
    parsed, res = read_profile(monkeypatch, tmp_path, {"RETLAND_SLURM_SITE": str(other)})
    assert res["slurm_partition"] == "'p3'" and "slurm_account" not in res
    assert parsed["slurm-no-account"] == "True"


def test_profile_refuses_bad_site_files(monkeypatch, tmp_path):
    from configargparse import ConfigFileParserException

    bad = tmp_path / "site.yaml"
    bad.write_text("partiton: typo\n")
    with pytest.raises(ConfigFileParserException, match="partiton"):
        read_profile(monkeypatch, tmp_path, {"RETLAND_SLURM_SITE": str(bad)})
    with pytest.raises(ConfigFileParserException, match="missing.yaml"):
        read_profile(monkeypatch, tmp_path, {"RETLAND_SLURM_SITE": str(tmp_path / "missing.yaml")})


def test_site_example_is_valid(monkeypatch, tmp_path):
    example = os.path.join(REPO, "profiles", "slurm", "site.example.yaml")
    _, res = read_profile(monkeypatch, tmp_path, {"RETLAND_SLURM_SITE": example})
    assert res["slurm_partition"] == "'gpu'" and res["slurm_account"] == "'my_project'"


def test_profiles_keep_the_rules_threads(monkeypatch, tmp_path):
    """Only `make run` caps every job at one thread (Makefile LOCAL_THREADS): neither this
    profile nor profiles/default (loaded with it as the workflow profile) touches threads, so
    a SLURM job asks for its rule's threads as CPUs (train, post_update: 2)."""
    parsed, res = read_profile(monkeypatch, tmp_path)
    with open(os.path.join(REPO, "profiles", "default", "config.yaml")) as f:
        default = yaml.safe_load(f)
    for profile in (parsed, default):
        assert not {"max-threads", "set-threads", "max_threads", "set_threads"} & set(profile), profile
    assert res["cpus_per_task"] == "threads"
    with open(os.path.join(REPO, "Makefile")) as f:
        makefile = f.read()
    assert re.search(r"^LOCAL_THREADS \?= --max-threads 1$", makefile, re.M)
    assert re.search(r"^run:.*\n(\t.*\n)*\t.*snakemake \$\(LOCAL_THREADS\)", makefile, re.M)  # make run only


# ---- a real cluster ---------------------------------------------------------------------

def cluster(cmd, timeout):
    return subprocess.run(["bash", CLUSTER, cmd], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def slurm():
    """A running local cluster; stopped afterwards if this fixture started it."""
    def cannot(reason):
        print(f"\n[test_slurm] {reason}", file=sys.stderr)
        if os.environ.get("RETLAND_REQUIRE_SLURM") == "1":
            pytest.fail(reason)
        pytest.skip(reason)

    if os.geteuid() != 0:
        cannot("SLURM cluster test needs root to install and start slurmctld/slurmd/munged "
               "(run `make test` as root, as CI does)")
    if cluster("status", 60).returncode == 0:
        started_here = False
    else:
        try:
            p = cluster("start", 1200)  # includes apt-get install on a fresh machine
        except subprocess.TimeoutExpired:
            cluster("stop", 120)
            cannot("could not start a local SLURM cluster: tests/slurm_cluster.sh start timed out")
        if p.returncode != 0:
            cluster("stop", 120)
            cannot(f"could not start a local SLURM cluster (tests/slurm_cluster.sh start, exit {p.returncode}):\n"
                   f"{p.stderr.strip()[-3000:]}")
        started_here = True
    conf = cluster("env", 30).stdout.strip().split("=", 1)[1]
    yield {"SLURM_CONF": conf, "state": os.path.dirname(conf)}
    if started_here:
        p = cluster("stop", 120)
        assert p.returncode == 0, p.stderr


def slurm_env(slurm, workdir):
    env = dict(os.environ, SLURM_CONF=slurm["SLURM_CONF"], JAX_PLATFORMS="cpu",
               RETLAND_JAX_CACHE=os.path.join(workdir, "results", ".jax_cache"))
    for var in ("SBATCH_PARTITION", "SBATCH_ACCOUNT", "RETLAND_SLURM_SITE"):
        env.pop(var, None)  # the site file of the copy decides
    return env


def copy_repo(tmp_path, site, resources):
    d = str(tmp_path)
    for item in ("Snakefile", "workflow", "config", "profiles", "src", "envs"):
        src = os.path.join(REPO, item)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(d, item), ignore=shutil.ignore_patterns("__pycache__", "site.yaml"))
        else:
            shutil.copy(src, os.path.join(d, item))
    with open(os.path.join(d, "profiles", "slurm", "site.yaml"), "w") as f:
        yaml.safe_dump(site, f)
    with open(os.path.join(d, "config", "test_resources.yaml"), "w") as f:
        # TD3 on hopper only: the SLURM plumbing is the same for every algorithm, suite and
        # experiment (one gpu_resources helper; DMC post-update jobs ask for
        # resources.host_threads CPUs); the full ci pipeline runs locally in test_workflow.py.
        yaml.safe_dump({"resources": resources, "algos": ["td3"], "envs": ["hopper"]}, f)
    return d


# Options for this host only: no accounting database (squeue instead of sacct), short jobs
# (first status check after 5 s instead of 40 s), and the SLURM logs kept for the checks.
HOST_ARGS = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5",
             "--slurm-keep-successful-logs"]


def scontrol_job(jobid, env):
    out = subprocess.run(["scontrol", "-o", "show", "job", str(jobid)], capture_output=True, text=True,
                         env=env, timeout=30).stdout
    return dict(re.findall(r"(\S+?)=(\S*)", out))


@pytest.mark.slow
@pytest.mark.slurm
def test_ci_run_goes_through_sbatch(slurm, tmp_path):
    d = copy_repo(tmp_path, {"partition": "retland", "no_account": True}, TEST_RESOURCES)
    env = slurm_env(slurm, d)
    t0 = time.time()
    try:
        p = subprocess.run([SNAKEMAKE, "--profile", "profiles/slurm", "--configfile", "config/ci.yaml",
                            "config/test_resources.yaml", *HOST_ARGS, "--", *E2_TARGETS],
                           cwd=d, env=env, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"snakemake through SLURM did not finish in 600 s:\n{(e.stderr or b'')[-4000:]}")
    log = p.stdout + p.stderr
    print(f"[test_slurm] snakemake --profile profiles/slurm: {time.time() - t0:.0f} s", file=sys.stderr)
    assert p.returncode == 0, f"snakemake --profile profiles/slurm failed:\n{log[-6000:]}"

    figs = os.path.join(d, "paper_figures", "ci")
    for name in ("fig02_scatter_hopper", "fig02_histograms_hopper", "extra_learning_curves"):
        for ext in ("png", "pdf"):
            assert os.path.getsize(os.path.join(figs, f"{name}.{ext}")) > 5000

    # What Snakemake submitted: "Job 4 has been submitted with SLURM jobid 6 (log: .../rule_train/...)".
    run_id = re.search(r"SLURM run ID: (\S+)", log).group(1)
    submitted = {int(j): rule for j, rule in
                 re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+?)/", log)}
    assert collections.Counter(submitted.values()) == REMOTE_JOBS, log[-4000:]
    assert set(re.findall(r"^localrule (\w+):", log, re.M)) == LOCAL_RULES
    assert not REMOTE_RULES & set(re.findall(r"^localrule (\w+):", log, re.M))

    # What SLURM ran: every job named with this run's id, and nothing else.
    ids = subprocess.run(["squeue", "-h", "-t", "all", f"--name={run_id}", "-o", "%i"], capture_output=True,
                         text=True, env=env, timeout=30).stdout.split()
    assert sorted(map(int, ids)) == sorted(submitted), (ids, submitted)
    jobcomp = open(os.path.join(slurm["state"], "jobcomp.log")).read()
    for jobid, rule in submitted.items():
        job = scontrol_job(jobid, env)
        assert job["JobState"] == "COMPLETED", job
        assert job["Comment"].startswith(f"rule_{rule}_wildcards_hopper"), job
        assert job["Partition"] == "retland", job  # from the site file, not the default partition
        assert job["TimeLimit"] == "00:15:00" and job["MinMemoryNode"] == "2000M", job  # resources.*
        assert job["NumCPUs"] == "2", job  # the rules' threads
        assert "TresPerJob" not in job  # resources.gpu false: no GPU asked for
        assert re.search(rf"JobId={jobid} .*Name={run_id} JobState=COMPLETED", jobcomp)
        logdir = os.path.join(d, ".snakemake", "slurm_logs", f"rule_{rule}")
        assert any(f == f"{jobid}.log" for _, _, fs in os.walk(logdir) for f in fs)


@pytest.mark.slow
@pytest.mark.slurm
def test_resources_gpu_asks_slurm_for_a_gpu(slurm, tmp_path):
    """resources.gpu: true alone makes the training job ask for one GPU (the test node has a
    fake one); the job is cancelled as soon as SLURM has scheduled it."""
    d = copy_repo(tmp_path, {"partition": "retland", "no_account": True},
                  dict(TEST_RESOURCES, gpu=True))
    env = slurm_env(slurm, d)
    out = open(os.path.join(d, "snakemake.log"), "w+")
    proc = subprocess.Popen([SNAKEMAKE, "--profile", "profiles/slurm", "--configfile", "config/ci.yaml",
                             "config/test_resources.yaml", "--until", "train", "--retries", "0", *HOST_ARGS],
                            cwd=d, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    jobid, log = None, ""
    try:
        deadline = time.time() + 120
        while time.time() < deadline and jobid is None and proc.poll() is None:
            time.sleep(1)
            log = open(out.name).read()
            m = re.search(r"submitted with SLURM jobid (\d+)", log)
            jobid = int(m.group(1)) if m else None
        log = open(out.name).read()
        assert jobid is not None, f"no SLURM job submitted with resources.gpu true:\n{log[-4000:]}"
        for _ in range(30):  # until SLURM has placed it (or bounded)
            job = scontrol_job(jobid, env)
            if job.get("JobState") != "PENDING":
                break
            time.sleep(1)
        assert job.get("TresPerJob") == "gres:gpu:1", job
        assert job["JobState"] in ("RUNNING", "COMPLETING", "COMPLETED"), job  # schedulable
        assert job["Comment"].startswith("rule_train_"), job
    finally:
        if jobid is not None:
            subprocess.run(["scancel", str(jobid)], env=env, timeout=30)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        out.close()
