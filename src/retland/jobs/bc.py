"""Job entry points of E12, behaviour cloning (paper A.7, Fig. 22 and its table).

``bc_train_job`` clones the teachers of one TD3 run (students vmapped, one training file
per teacher); the students' post-update distributions are E2's ``post_update_job`` on
those files (the BC agent's post-update is one more BC step); ``bc_stats_job`` pairs
teachers with students and writes the A.7 table and the Fig. 22 right summary;
``fig22_job`` draws. Only ``bc_train_job`` imports JAX.
"""

from __future__ import annotations

import os

import pandas as pd

from .. import provenance
from ..base.atomic import write_text
from ..provenance import write_csv
from ..runtime import log


def bc_train_job(*, teacher_path: str, teacher_steps, bc: dict, out_h5, config_record: dict | None = None,
                 resume_every_minutes: float = 10.0) -> dict:
    """Clone the checkpoints ``teacher_steps`` of one TD3 training file (paper A.7): student
    j learns from rows [0, teacher_steps[j]) of the run's replay log relabelled with teacher
    j's actions; ``bc``: the config's ``bc`` section (total_steps, checkpoints,
    learning_rate, dropout, batch_size, max_chunk_steps, seed); ``out_h5``: one file per
    student (teacher)."""
    from ..runtime import setup_jax
    from .sources import CheckpointSource

    jax = setup_jax()
    import jax.numpy as jnp

    from ..agents.bc import agent as BC

    teacher_steps = [int(k) for k in teacher_steps]
    if len(out_h5) != len(teacher_steps):
        raise ValueError(f"{len(out_h5)} output paths for {len(teacher_steps)} teachers")
    src = CheckpointSource(teacher_path)
    a = src.attrs
    if a["algo"] != "td3":
        raise ValueError(f"{teacher_path}: behaviour cloning clones TD3 policies (paper A.7), this file is {a['algo']!r}")
    if src.replay is None:
        raise ValueError(f"{teacher_path}: no replay log to clone from")
    cfg = BC.BCConfig(hidden=tuple(src.cfg.hidden), dropout=float(bc["dropout"]),
                      learning_rate=float(bc["learning_rate"]), batch_size=int(bc["batch_size"]),
                      total_steps=int(bc["total_steps"]))
    teachers = [src.agent.policy_params(src.checkpoint(k)[0]) for k in teacher_steps]
    teachers = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *teachers)
    seed = int(a["seed"])
    base = jax.random.fold_in(jax.random.PRNGKey(int(bc["seed"])), seed)
    keys = jnp.stack([jax.random.fold_in(base, k) for k in teacher_steps])
    prov = provenance.record(config_record, backend=a["backend"])
    file_attrs = [{
        "suite": a["suite"], "env": a["env"], "env_kwargs": src.env_kwargs, "algo": BC.NAME,
        "backend": a["backend"], "episode_length": int(a["episode_length"]), "seed": seed,
        "teacher_algo": a["algo"], "teacher_step": k, "teacher_file": os.path.relpath(teacher_path),
        "replay_file": os.path.relpath(teacher_path),
        "total_steps": cfg.total_steps, "checkpoint_steps": sorted(int(s) for s in bc["checkpoints"]),
        "agent_config": cfg.to_dict(), "provenance": prov,
    } for k in teacher_steps]
    summary = BC.train_students(src.env, cfg, teachers, teacher_steps, keys=keys, replay=src.replay,
                                checkpoint_steps=bc["checkpoints"], out_paths=list(out_h5), file_attrs=file_attrs,
                                max_chunk=int(bc["max_chunk_steps"]), log=log,
                                resume_every=60.0 * resume_every_minutes)
    log(f"[bc_train] done in {summary['wall_seconds']:.1f}s ({summary['steps_per_second_per_seed']:.0f} "
        f"gradient steps/s per student); students' final deterministic returns "
        f"{[round(r, 1) for r in summary['final_eval_returns']]}")
    return summary


def bc_post_update_job(*, train_paths, steps, post_update: dict, out_h5, config_record=None) -> None:
    """E2's estimator on every student file of one TD3 run (``post_update_job`` per file);
    ``out_h5``: the outputs of every file in turn, one per student checkpoint ``steps``
    (``out_h5[i * len(steps):(i + 1) * len(steps)]``: those of file i)."""
    from ..base.checkpoints import TrainFile
    from .post_update import post_update_job

    outs_by_file = [list(out_h5)[i * len(steps):(i + 1) * len(steps)] for i in range(len(train_paths))]
    reuse = {}  # the students share task and config: one estimator, traced once
    for path, outs in zip(train_paths, outs_by_file):
        with TrainFile(path) as tf:
            seed = int(tf.attrs["seed"])  # the TD3 run the student's teacher comes from
        post_update_job(train_path=path, seed=seed, steps=steps, post_update=post_update, out_h5=outs,
                        config_record=config_record, reuse=reuse)


def _stats_rows(paths, stats: dict, seed0: int) -> pd.DataFrame:
    from .. import stats as S
    from ..base.checkpoints import read_post_update

    rows = []
    for i, p in enumerate(paths):
        returns, _, a = read_post_update(p)
        row = {"env": a["env"], "algo": a["algo"], "seed": int(a["seed"]), "step": int(a["step"])}
        if "teacher_step" in a:
            row["teacher_step"] = int(a["teacher_step"])
        row.update(S.summarize(returns, n_boot=stats["n_boot"], ci=stats["ci"], seed=seed0 + i,
                               cvar_alpha=stats["cvar_alpha"]))
        rows.append(row)
    return pd.DataFrame(rows)


def bc_stats_job(*, teacher_paths, student_paths, stats: dict, out_pairs: str, out_corr: str, out_corr_md: str,
                 out_ltp: str, config_record: dict | None = None) -> None:
    """Fig. 22 tables: the (teacher, student) pairs, the A.7 correlation table (CSV and
    markdown) and the mean LTP of teachers and students with rliable CIs."""
    from ..analyses import bc as A

    teachers = _stats_rows(teacher_paths, stats, stats["seed"])
    students = _stats_rows(student_paths, stats, stats["seed"] + len(teacher_paths))
    pairs = A.pairs(teachers, students)
    corr = A.correlations(pairs)
    ltp = A.ltp_summary(teachers, students, stats["n_boot"], stats["ci"], stats["seed"])
    prov = provenance.record(config_record)
    write_csv(pairs, out_pairs, prov)
    write_csv(corr, out_corr, prov)
    write_csv(ltp, out_ltp, prov)
    n_boot = stats["n_boot"]
    note = (f"{len(teachers)} TD3 teachers, {len(students)} BC students; statistics: bootstrapped means "
            f"({n_boot} resamples); git {prov['git_commit']}, created {prov['created']}.")
    write_text(out_corr_md, A.correlations_markdown(corr, note))
    for r in corr.itertuples():
        log(f"[bc_stats] {r.env}: {r.n_pairs} pairs, corr_mean {r.corr_mean:.3f}, corr_LTP {r.corr_ltp:.3f} "
            f"(paper {r.paper_corr_mean:.3f}, {r.paper_corr_ltp:.3f})")
    for r in ltp.itertuples():
        log(f"[bc_stats] mean LTP {r.method}: {r.mean:.3f} [{r.lo:.3f}, {r.hi:.3f}] ({r.n_defined} policies)")


def fig22_job(*, pairs_csv: str, corr_csv: str, ltp_csv: str, out_pairs_png, out_pairs_pdf, out_ltp_png,
              out_ltp_pdf, dpi: int = 150) -> None:
    from ..plots import bc as plots_bc

    pairs, corr, ltp = (pd.read_csv(p) for p in (pairs_csv, corr_csv, ltp_csv))
    plots_bc.fig22_pairs(pairs, corr, out_pairs_png, out_pairs_pdf, dpi=dpi)
    plots_bc.fig22_ltp(ltp, out_ltp_png, out_ltp_pdf, dpi=dpi)
    log(f"[fig22] {out_pairs_png}, {out_ltp_png}")
