"""E1 (paper A.1, Table 1): training jobs, and the learning curves as a table.
"""

from __future__ import annotations

from .. import provenance
from ..provenance import write_csv
from ..runtime import log, setup_jax


def train_job(*, env: str, algo: str, seeds, backend: str, episode_length: int, train: dict,
              agent_overrides: dict, out_h5, config_record: dict | None = None,
              resume_every_minutes: float = 10.0, env_kwargs: dict | None = None) -> dict:
    """E1: train ``seeds`` of (env, algo) vmapped in one process; one HDF5 file per seed
    (``out_h5``). ``train``: the config's training schedule of this algorithm (total_steps,
    checkpoints, max_chunk_steps, eval_horizon); ``agent_overrides``: its hyperparameters
    (the rule's param ``agent``); ``env_kwargs``: the task variant (Brax constructor
    arguments; config ``env_kwargs.<env>``)."""
    setup_jax()
    from ..agents import get_agent
    from ..base.envs import make_env
    from ..training import train as train_agent
    agent = get_agent(algo)
    cfg = agent.Config.from_dict(agent_overrides)
    task = make_env(env, backend, episode_length, env_kwargs)
    attrs = {
        "suite": task.spec.suite,
        "env": env,
        "env_kwargs": task.env_kwargs,
        "algo": algo,
        "backend": task.spec.backend,  # the Brax backend, or the suite's own simulator ("mujoco" for DMC)
        "episode_length": episode_length,
        "total_steps": train["total_steps"],
        "checkpoint_steps": sorted(train["checkpoints"]),
        "eval_horizon": int(train.get("eval_horizon") or episode_length),
        "agent_config": cfg.to_dict(),
        "provenance": provenance.record(config_record, backend=task.spec.backend),
    }
    summary = train_agent(
        agent, task, cfg, seeds, total_steps=train["total_steps"], checkpoint_steps=train["checkpoints"],
        out_paths=out_h5, attrs=attrs, max_chunk=train["max_chunk_steps"], log=log,
        resume_every=60.0 * resume_every_minutes, eval_horizon=train.get("eval_horizon"),
    )
    if summary["resumed_from"]:
        log(f"[train] resumed from step {summary['resumed_from']}")
    log(f"[train] done in {summary['wall_seconds']:.1f}s "
        f"({summary['steps_per_second_per_seed']:.0f} env-steps/s per seed); "
        f"final deterministic returns {[round(r, 1) for r in summary['final_eval_returns']]}")
    return summary


def learning_curves_job(*, train_paths, out_csv: str, config_record: dict | None = None) -> None:
    """Every training run's learning curve, one table."""
    import pandas as pd

    from ..base.checkpoints import TrainFile

    frames = []
    for p in train_paths:
        with TrainFile(p) as tf:
            a = tf.attrs
            lc = tf.learning_curve()
        frames.append(pd.DataFrame({
            "suite": a["suite"], "env": a["env"], "algo": a["algo"], "seed": int(a["seed"]),
            "step": lc["step"], "return": lc["return"], "length": lc["length"],
        }))
    df = pd.concat(frames, ignore_index=True)
    write_csv(df, out_csv, provenance.record(config_record))
    log(f"[learning_curves] {len(train_paths)} runs -> {out_csv}")


def learning_curves_figure_job(*, curves_csv: str, out_png: str, out_pdf: str, dpi: int) -> None:
    """Learning curves per environment (not a paper figure) from the learning-curve table."""
    import pandas as pd

    from ..plots.train import extra_learning_curves

    extra_learning_curves(pd.read_csv(curves_csv), out_png, out_pdf, dpi=dpi)
    log(f"[figures] {out_png}")
