# Config validation (before any job runs), output paths, shared environment.
import os
import sys

sys.path.insert(0, os.path.join(workflow.basedir, "src"))
from retland.config import ConfigError, load_schema, train_settings, validate as _validate

try:
    _validate(config, load_schema(os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml")))
except ConfigError as _e:
    raise WorkflowError(str(_e)) from None

RUN = config["run"]
SEEDS = [int(s) for s in config["seeds"]]
RES = f"results/{RUN}"
FIGS = f"paper_figures/{RUN}"

# One persistent JAX compilation cache shared by all jobs of the run; CPU-only unless a
# rule asks for a GPU; no GPU preallocation (jobs may share one); HDF5 locking off for
# network filesystems.
os.environ.setdefault("RETLAND_JAX_CACHE", os.path.abspath(config["jax"]["cache_dir"].replace("{run}", RUN)))
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
os.environ.setdefault("MPLBACKEND", "Agg")
# XLA's CPU concurrency-optimized scheduler deadlocks on PPO's vmapped update at 64-wide
# layers and up (measured here with jax 0.10: every run hung with all worker threads idle;
# none did with this flag); see retland.jobs.XLA_CPU_FLAGS.
from retland.jobs import add_xla_cpu_flags as _add_xla_cpu_flags

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
    algo="|".join(config["algos"]),
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


def algo_train(algo):
    """Training length, checkpoints and chunk bound of ``algo`` (train.<algo> overrides train)."""
    return train_settings(config, algo)


def algo_steps(algo):
    """Sorted checkpoint steps of ``algo``."""
    return algo_train(algo)["checkpoints"]


def train_files(env, algo):
    return [f"{RES}/train/{env}/{algo}/seed{s}.h5" for s in SEEDS]


def post_update_files(env=None, algo=None):
    envs = [env] if env else config["envs"]
    algos = [algo] if algo else config["algos"]
    return [
        f"{RES}/post_update/{e}/{a}/seed{s}/step{k}.h5"
        for e in envs for a in algos for s in SEEDS for k in algo_steps(a)
    ]


def all_figures():
    figs = expand(f"{FIGS}/fig02_{{kind}}_{{env}}.{{ext}}", kind=["scatter", "histograms"], env=config["envs"], ext=["png", "pdf"])
    figs += expand(f"{FIGS}/extra_learning_curves.{{ext}}", ext=["png", "pdf"])
    figs += GEOMETRY_FIGURES  # E3-E5 (workflow/rules/geometry.smk)
    figs += NAVIGATION_TARGETS  # E6-E9 (workflow/rules/navigation.smk)
    figs += bc_targets()  # E12 (workflow/rules/bc.smk)
    return figs


def gpu_resources(kind):
    """Resources of a heavy rule; GPUs switch on with config resources.gpu."""
    r = config["resources"]
    res = {"mem_mb": r.get(f"{kind}_mem_mb", 8000), "runtime": r.get(f"{kind}_runtime", 60)}
    if r["gpu"]:
        res["gpu"] = 1
    return res
