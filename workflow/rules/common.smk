# Config validation (before any job runs), output paths, shared environment.
import os
import sys

sys.path.insert(0, os.path.join(workflow.basedir, "src"))
# Parsing the workflow (dry runs, --lint, every job's params) imports only JAX-free modules
# of the package: the config checks, the agent and suite registries (which algorithm runs in
# which suite, a task's simulator) and, below, retland.runtime's environment flags. The job
# scripts import the rest (tests/workflow/test_workflow.py: a dry run never loads jax).
from retland.agents import runs_in as _runs_in
from retland.base.envs import simulator, suite_of
from retland.config import (ConfigError, agent_overrides, algo_seeds as _algo_seeds, analysed_algos, bc_seeds,
                            bc_teacher_steps, brax_envs, experiment_algo, external_agents,
                            landscape_algo as _landscape_algo, load_schema, settings_for,
                            skipped_experiments, train_settings, validate as _validate)

try:
    _validate(config, load_schema(os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml")))
except ConfigError as _e:
    raise WorkflowError(str(_e)) from None

RUN = config["run"]
SEEDS = [int(s) for s in config["seeds"]]
# Agents trained elsewhere (config `external`, external.smk): imported, never trained here
EXTERNAL = external_agents(config)
ALGOS = analysed_algos(config)  # trained, then imported
for _line in skipped_experiments(config):
    print(f"[retland] {_line}", file=sys.stderr)

# The (env, algo) pairs trained and analysed by E1-E2: an algorithm runs in the suites it
# supports (TD3/SAC: Brax and DMC, PPO: Brax and Atari). E3-E9 and E12 analyse the Brax
# tasks, E11 (atari.smk) the Atari games.
PAIRS = [(e, a) for e in config["envs"] for a in config["algos"] if _runs_in(a, e)]
PAIRS += [(x["env"], name) for name, x in EXTERNAL.items()]
BRAX_ENVS = brax_envs(config)  # the same list the config checks use
HOST_ENVS = {e for e in config["envs"] if suite_of(e) != "brax"}
ATARI_ENVS = [e for e in config["envs"] if suite_of(e) == "atari"]


def env_backend(env):
    """The simulator a task runs on: the config's Brax backend, or its suite's own."""
    return simulator(env, config["backend"])


def env_settings(env):
    """seeds, episode_length, train, agents, post_update as task ``env`` sees them (suites.<suite>)."""
    return settings_for(config, env)


def env_seeds(env):
    """The training seeds of task ``env`` (suites.<suite>.seeds where given)."""
    return [int(s) for s in env_settings(env)["seeds"]]


RES = f"results/{RUN}"
FIGS = f"paper_figures/{RUN}"

# Scheduling order (rules' `priority:`; the rest 0): training first, since every later job
# waits for it; then the post-updates, which gate stats/post_update.csv and every analysis of
# it; then the behaviour-cloning chain (train -> post-update -> statistics), then the long
# analyses of stats/post_update.csv (Algorithm 1, interpolation, landscape, failures) and the
# start states; the short statistics and figure jobs last, where they fill both cores instead of
# a long job running alone at the end (docs/profile.md, section 4).
PRIORITY = {"train": 10, "post_update": 5, "bc": 4, "analysis": 3}

# One persistent JAX compilation cache shared by all jobs of the run; CPU-only unless a
# rule asks for a GPU; no GPU preallocation (jobs may share one); HDF5 locking off for
# network filesystems.
os.environ.setdefault("RETLAND_JAX_CACHE", os.path.abspath(config["jax"]["cache_dir"].replace("{run}", RUN)))
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
os.environ.setdefault("MPLBACKEND", "Agg")
# Every job's XLA CPU client computes on one thread (runtime.start_cpu_backend), on a laptop
# and on SLURM alike: XLA splits large products (the Atari CNN's) across its threads, which
# changes their last bits with the thread count, so one thread keeps a run's numbers equal on
# every machine; and two jobs on two cores ran the default config in 5 min 32 s against
# 6 min 27 s with two threads each (docs/profile.md). `RETLAND_XLA_CPU_THREADS=` (empty)
# before snakemake keeps XLA's default of one thread per core.
os.environ.setdefault("RETLAND_XLA_CPU_THREADS", "1")
# XLA's CPU concurrency-optimized scheduler deadlocks on PPO's vmapped update at 64-wide
# layers and up (measured here with jax 0.10: every run hung with all worker threads idle;
# none did with this flag); see retland.runtime.XLA_CPU_FLAGS.
from retland.runtime import add_xla_cpu_flags as _add_xla_cpu_flags

_add_xla_cpu_flags()
if not config["resources"]["gpu"]:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Job scripts import the package from this checkout (also inside conda environments).
_src = os.path.join(workflow.basedir, "src")
_pythonpath = [p for p in os.getenv("PYTHONPATH", "").split(os.pathsep) if p and p != _src]
os.environ.update(PYTHONPATH=os.pathsep.join([_src] + _pythonpath))

# Conda environments (--software-deployment-method conda), pinned like requirements.lock.
JAX_ENV = "../../envs/jax-cuda.yaml" if config["resources"]["gpu"] else "../../envs/jax.yaml"
ANALYSIS_ENV = "../../envs/analysis.yaml"


wildcard_constraints:
    env="|".join(config["envs"]),
    algo="|".join(ALGOS),
    seed=r"\d+",
    step=r"\d+",
    teacher=r"\d+",


def canon(x):
    """Config values with dict keys sorted: rule params compare by value, so reordering
    keys in a config file never triggers a re-run."""
    if isinstance(x, dict):
        return {k: canon(x[k]) for k in sorted(x)}
    if isinstance(x, list):
        return [canon(v) for v in x]
    return x


def algo_train(algo, env=None):
    """Training length, checkpoints and chunk bound of ``algo`` (train.<algo> overrides
    train; on ``env``, its suite's section overrides both)."""
    return train_settings(config, algo, env)


def algo_steps(algo, env=None):
    """Sorted checkpoint steps of ``algo`` (on ``env``)."""
    return algo_train(algo, env)["checkpoints"]


def algo_seeds(env, algo):
    """The seeds of ``algo`` on ``env``: an external agent's own, else the task's."""
    return _algo_seeds(config, algo, env)


def external_checkpoints(algo, seed):
    """step -> checkpoint file of seed ``seed`` of external agent ``algo``."""
    from retland.config import external_files

    return external_files(config, algo, int(seed))


def train_files(env, algo):
    return [f"{RES}/train/{env}/{algo}/seed{s}.h5" for s in algo_seeds(env, algo)]


def all_train_files():
    return [f for e, a in PAIRS for f in train_files(e, a)]


def post_update_files(env=None, algo=None):
    return [
        f"{RES}/post_update/{e}/{a}/seed{s}/step{k}.h5"
        for e, a in PAIRS if env in (None, e) and algo in (None, a) for s in algo_seeds(e, a) for k in algo_steps(a, e)
    ]


# Shared by the experiments' rules.
DPI = config["figures"]["dpi"]
# the resume frequency of training jobs (a resource, not a param: never triggers a re-run)
RESUME_EVERY_S = int(round(60 * config["train"].get("resume_every_minutes", 10)))
TRAIN_PATTERN = f"{RES}/train/{{env}}/{{{{algo}}}}/seed{{{{seed}}}}.h5"
POST_UPDATE_PATTERN = f"{RES}/post_update/{{env}}/{{{{algo}}}}/seed{{{{seed}}}}/step{{{{step}}}}.h5"
LAND_ALGO = _landscape_algo(config["landscape"]["algo"], ALGOS)  # "auto": SAC where trained (Fig. 1), else TD3
# E4, E5, E8 run on their section's agent when it is analysed here and has what they need
# (retland.config.experiment_algo; None: skipped, and the parse said why)
FAIL_ALGO = experiment_algo(config, "failures")
START_ALGO = experiment_algo(config, "start_states")
REJ_ALGO = experiment_algo(config, "rejection")
START_SEEDS = [s for s in config["start_states"]["seeds"] if START_ALGO and s in algo_seeds(None, START_ALGO)]
BC = config.get("bc") if BRAX_ENVS and experiment_algo(config, "bc") else None  # E12 clones Brax TD3 runs
if BC:
    BC_SEEDS = bc_seeds(config)
    BC_TEACHERS = bc_teacher_steps(config)
    BC_STEPS = sorted(int(s) for s in BC["checkpoints"])


# E12 (bc.smk): a TD3 run's students and their post-update files
def bc_student_files(env, seed):
    return [f"{RES}/bc/train/{env}/seed{seed}/teacher{k}.h5" for k in BC_TEACHERS]


def bc_post_update_files(env, seed):
    return [f"{RES}/bc/post_update/{env}/seed{seed}/teacher{k}/step{s}.h5" for k in BC_TEACHERS for s in BC_STEPS]


def _figs(names, per_env=True, envs=None):
    """png + pdf of figure ``names`` (one per environment of ``envs`` where ``per_env``;
    by default the Brax tasks, which every analysis past E2 studies)."""
    if per_env:
        return expand(f"{FIGS}/{{name}}_{{env}}.{{ext}}", name=names, env=BRAX_ENVS if envs is None else envs,
                      ext=["png", "pdf"])
    return expand(f"{FIGS}/{{name}}.{{ext}}", name=names, ext=["png", "pdf"])


def all_figures():
    """Every default target, by experiment (docs/layout.md's experiment map); the one place
    where the workflow's targets are built."""
    targets = _figs(["extra_learning_curves"], per_env=False)  # E1 train.smk
    # E2 post_update.smk: Fig. 2, 11-13 (Brax) and, E10, Fig. 14-18 (DMC)
    targets += _figs(["fig02_scatter", "fig02_histograms"], envs=[e for e in config["envs"] if e not in ATARI_ENVS])
    if ATARI_ENVS and config["atari"]["algo"] in config["algos"]:  # E11 atari.smk: Fig. 19-21
        targets += _figs(["fig19_below_threshold_atari", "fig20_histograms_atari", "fig21_scatter_atari"],
                         per_env=False)
    if not BRAX_ENVS:  # E3-E9 and E12 study the Brax tasks
        return targets
    targets += _figs(["fig01_landscape", "fig27_multiscale"])  # E3 landscape.smk
    if FAIL_ALGO:  # E4 failures.smk (paper: TD3)
        targets += _figs(["fig03_failures", "fig04_misstep"])
    if START_ALGO:  # E5 start_states.smk (paper: TD3)
        targets += _figs(["fig10_ltp_by_state"])
    targets += _figs(["fig05_interpolation", "fig08_interpolation_purd"])  # E6 interpolation.smk
    targets += _figs(["fig06_below_threshold"], per_env=False)  # E7 interpolation.smk
    if REJ_ALGO:
        targets += _figs(["fig07_ltp_reduction", "fig26_rejection_frequency"], per_env=False)  # E8 rejection.smk
        targets += _figs(["fig24_rejection_paths", "fig25_cvar_ranking"])  # E8-E9 rejection.smk
        targets += [f"{RES}/stats/claims.md"]  # claims.smk (claim (c) is Algorithm 1's)
    if BC:  # E12 bc.smk
        targets += _figs(["fig22_bc_pairs", "fig22_bc_ltp"], per_env=False) + [f"{RES}/stats/bc_correlations.md"]
    return targets


def gpu_resources(kind):
    """Resources of a heavy rule; GPUs switch on with config resources.gpu."""
    r = config["resources"]
    res = {"mem_mb": r.get(f"{kind}_mem_mb", 8000), "runtime": r.get(f"{kind}_runtime", 60)}
    if r["gpu"]:
        res["gpu"] = 1
    return res


def host_threads(wildcards):
    """Threads of a post-update job: a host-stepped task's environments are stepped by that
    many worker processes (config resources.host_threads; CPU-bound, no GPU needed)."""
    return config["resources"].get("host_threads", 4) if wildcards.env in HOST_ENVS else 2


# E1 / E2 rules per seed list and checkpoint schedule (train.smk, post_update.smk)
def seed_groups():
    """Name -> (tasks, seeds) of the E1 jobs' rules. ``train`` serves the tasks with the
    config's seeds, ``train_<suite>`` a suite with its own (suites.<suite>.seeds), since
    the outputs of one rule are fixed patterns."""
    groups = {}
    for e in config["envs"]:
        seeds = tuple(env_seeds(e))
        name = "train" if list(seeds) == SEEDS else f"train_{suite_of(e)}"
        groups.setdefault(name, ([], seeds))[0].append(e)
    return groups


def post_update_schedules(algo):
    """Name -> (tasks, checkpoint steps) of the E2 jobs' rules of ``algo``, one per schedule."""
    groups = {}
    for e, a in PAIRS:
        if a == algo:
            steps = tuple(algo_steps(a, e))
            own = steps != tuple(algo_steps(a))
            name = f"post_update_{a}_{suite_of(e)}" if own else f"post_update_{a}"
            groups.setdefault(name, ([], steps))[0].append(e)
    return groups
