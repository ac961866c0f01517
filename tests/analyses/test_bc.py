"""E12 (paper A.7, Fig. 22): behaviour cloning -- the relabelled data, the student's
post-update, the teacher choice, the correlation table, the config checks, and a tiny real
run (students of a TD3 run, their files, resume, and the post-update job on them)."""

import copy
import os

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from retland.agents.bc import agent as BC
from retland.analyses import bc as A
from retland.base.replay import Transition

OBS, ACT = 5, 3


def _replay(n):
    """Observations that name their row (obs[i, 0] = i); logged actions all 0.5."""
    obs = np.zeros((n, OBS), np.float32)
    obs[:, 0] = np.arange(n)
    obs[:, 1:] = np.random.default_rng(0).normal(size=(n, OBS - 1))
    act = np.full((n, ACT), 0.5, np.float32)
    z = np.zeros(n, np.float32)
    return Transition(jnp.asarray(obs), jnp.asarray(act), jnp.asarray(z), jnp.asarray(obs), jnp.asarray(z))


def _state(cfg, seed=0):
    teacher = BC.init(jax.random.PRNGKey(100 + seed), OBS, ACT, cfg).student
    return BC.init(jax.random.PRNGKey(seed), OBS, ACT, cfg, teacher)


def test_relabelled_batches_hold_teacher_actions_on_exactly_rows_before_the_checkpoint():
    cfg = BC.BCConfig(hidden=(8, 8), batch_size=512)
    state = _state(cfg)
    replay = _replay(40)
    step = 13
    teacher = BC._net(cfg, ACT)
    seen = set()
    for i in range(8):
        obs, act = BC.relabelled_batch(state, replay, jax.random.PRNGKey(i), 0, step, cfg, ACT)
        rows = np.asarray(obs[:, 0]).astype(int)
        assert rows.min() >= 0 and rows.max() < step  # never a row logged after the teacher
        np.testing.assert_array_equal(np.asarray(obs), np.asarray(replay.obs)[rows])
        np.testing.assert_allclose(np.asarray(act), np.asarray(teacher.apply(state.teacher, obs)), rtol=1e-6)
        assert not np.allclose(np.asarray(act), 0.5)  # not the logged actions
        seen |= set(rows.tolist())
    assert seen == set(range(step))  # and every one of them


def test_student_post_update_changes_only_student_and_optimizer_state():
    cfg = BC.BCConfig(hidden=(8, 8), batch_size=16, total_steps=100)
    state = _state(cfg)
    replay = _replay(30)

    class Env:
        class spec:
            act_dim = ACT

    new, loss = BC.bc_step(state, jax.random.PRNGKey(3), replay, 0, 20, cfg, ACT)
    assert np.isfinite(float(loss))
    leaves = lambda t: [np.asarray(x) for x in jax.tree_util.tree_leaves(t)]  # noqa: E731
    for a, b in zip(leaves(state.teacher), leaves(new.teacher)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(leaves(state.student), leaves(new.student)))
    assert any(not np.array_equal(a, b) for a, b in zip(leaves(state.opt), leaves(new.opt)))
    theta = BC.post_update(state, jax.random.PRNGKey(3), replay, 0, 20, cfg, Env)
    for a, b in zip(leaves(theta), leaves(new.student)):
        np.testing.assert_array_equal(a, b)
    other = BC.post_update(state, jax.random.PRNGKey(4), replay, 0, 20, cfg, Env)  # fresh minibatch
    assert any(not np.array_equal(a, b) for a, b in zip(leaves(theta), leaves(other)))


def test_dropout_is_on_in_training_and_off_in_the_policy():
    cfg = BC.BCConfig(hidden=(32, 32), dropout=0.5)
    state = _state(cfg)
    obs = jnp.ones((4, OBS))
    policy = BC.make_policy(ACT, cfg)
    np.testing.assert_array_equal(np.asarray(policy(state.student, obs)), np.asarray(policy(state.student, obs)))
    net = BC._net(cfg, ACT)
    a = net.apply(state.student, obs, train=True, rngs={"dropout": jax.random.PRNGKey(0)})
    b = net.apply(state.student, obs, train=True, rngs={"dropout": jax.random.PRNGKey(1)})
    assert not np.allclose(np.asarray(a), np.asarray(b))


def test_teachers_spread_evenly_over_the_run():
    paper = [50_000 + 100_000 * i for i in range(10)]
    assert A.teacher_steps(paper, 5) == [50_000, 250_000, 450_000, 750_000, 950_000]
    assert A.teacher_steps([5, 10, 15, 20], 4) == [5, 10, 15, 20]
    assert A.teacher_steps([5, 10, 15, 20], 2) == [5, 20]
    with pytest.raises(ValueError, match="at least 5 TD3 checkpoints"):
        A.teacher_steps([1, 2, 3], 5)


def _stats_rows(env, seed, steps, means, ltps, teacher_steps=None):
    d = {"env": env, "seed": seed, "step": steps, "mean_boot_mean": means, "ltp_boot_mean": ltps}
    if teacher_steps is not None:
        d["teacher_step"] = teacher_steps
    return pd.DataFrame(d)


def test_correlation_table_agrees_with_scipy():
    rng = np.random.default_rng(1)
    tm, tl = rng.normal(1000, 200, 6), rng.uniform(0, 0.5, 6)
    teachers = _stats_rows("hopper", 0, [10, 20, 30, 40, 50, 60], tm, tl)
    sm = np.repeat(tm, 2) + rng.normal(0, 50, 12)
    sl = np.repeat(tl, 2) * rng.uniform(0.5, 1.5, 12)
    students = _stats_rows("hopper", 0, [1, 2] * 6, sm, sl, teacher_steps=np.repeat([10, 20, 30, 40, 50, 60], 2))
    p = A.pairs(teachers, students)
    assert len(p) == 12 and (p["teacher_mean"].to_numpy() == np.repeat(tm, 2)).all()
    c = A.correlations(p).set_index("env")
    assert c.loc["hopper", "corr_mean"] == pytest.approx(sps.pearsonr(np.repeat(tm, 2), sm)[0], rel=1e-12)
    assert c.loc["hopper", "corr_ltp"] == pytest.approx(sps.pearsonr(np.repeat(tl, 2), sl)[0], rel=1e-12)
    assert c.loc["hopper", "paper_corr_mean"] == 0.753 and c.loc["hopper", "paper_corr_ltp"] == 0.449
    # undefined LTPs are left out of corr_LTP; a constant side makes r undefined
    sl2 = sl.copy()
    sl2[:3] = np.nan
    p2 = A.pairs(teachers, students.assign(ltp_boot_mean=sl2))
    c2 = A.correlations(p2).iloc[0]
    assert c2["n_ltp_pairs"] == 9
    assert c2["corr_ltp"] == pytest.approx(sps.pearsonr(np.repeat(tl, 2)[3:], sl[3:])[0], rel=1e-12)
    assert np.isnan(A.pearson([1, 2, 3], [5, 5, 5])) and np.isnan(A.pearson([1], [2]))
    md = A.correlations_markdown(A.correlations(p))
    assert "| hopper | 12 |" in md and "0.753" in md


def test_student_without_teacher_row_is_an_error():
    teachers = _stats_rows("hopper", 0, [10], [1.0], [0.1])
    students = _stats_rows("hopper", 0, [1], [1.0], [0.1], teacher_steps=[20])
    with pytest.raises(ValueError, match="hopper/seed0/teacher20"):
        A.pairs(teachers, students)


def test_ltp_summary_per_method():
    teachers = pd.concat([_stats_rows("hopper", 0, [1, 2], [1, 1], [0.2, 0.4]),
                          _stats_rows("ant", 0, [1, 2], [1, 1], [0.0, np.nan])])
    students = _stats_rows("hopper", 0, [1, 2, 3], [1, 1, 1], [0.1, 0.1, 0.1], teacher_steps=[1, 1, 2])
    s = A.ltp_summary(teachers, students, 200, 0.95, 0).set_index("method")
    assert list(s.index) == ["td3", "bc"]
    assert s.loc["td3", "n_defined"] == 3 and s.loc["td3", "n_undefined"] == 1
    assert s.loc["td3", "mean"] == pytest.approx(0.2)  # nanmean over the padded env x run matrix
    assert s.loc["bc", "mean"] == pytest.approx(0.1) and s.loc["bc", "lo"] == pytest.approx(0.1)


# --- config ------------------------------------------------------------------------------

def _config(**bc):
    import yaml

    from retland.config import load_schema

    with open(os.path.join(os.path.dirname(__file__), "..", "..", "config", "config.yaml")) as f:
        cfg = yaml.safe_load(f)
    cfg["bc"].update(bc)
    return cfg, load_schema()


@pytest.mark.parametrize("change, key", [
    ({"teachers_per_run": 5}, "'bc.teachers_per_run'"),
    ({"checkpoints": [5000, 30000]}, "'bc.checkpoints'"),
    ({"seeds": [7]}, "'bc.seeds'"),
    ({"dropout": 1.0}, "'bc.dropout'"),
    ({"learning_rate": 0}, "'bc.learning_rate'"),
    ({"teachers": 3}, "under 'bc'"),
])
def test_bad_bc_config_is_refused_naming_the_key(change, key):
    from retland.config import ConfigError, validate

    cfg, schema = _config(**change)
    with pytest.raises(ConfigError, match=key.replace("(", r"\(").replace(")", r"\)")):
        validate(cfg, schema)


def test_bc_runs_only_where_td3_is_trained():
    """E12 clones the config's TD3 runs: without them it is skipped, and the workflow's
    parse says so (retland.config.skipped_experiments), rather than refusing the config."""
    from retland.config import experiment_algo, skipped_experiments, validate

    cfg, schema = _config()
    cfg = copy.deepcopy(cfg)
    assert experiment_algo(cfg, "bc") == "td3"
    cfg["algos"] = ["sac"]
    cfg["interpolation"]["algo"] = "sac"
    validate(cfg, schema)
    assert experiment_algo(cfg, "bc") is None
    assert "bc: skipped, its agent td3 is not trained here" in skipped_experiments(cfg)


# --- a tiny real run ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def students(tiny_training, tmp_path_factory):
    from retland.jobs.bc import bc_train_job

    d = tmp_path_factory.mktemp("bc")
    bc = {"total_steps": 60, "checkpoints": [20, 60], "learning_rate": 1e-3, "dropout": 0.1,
          "batch_size": 16, "max_chunk_steps": 20, "seed": 0}
    outs = [str(d / f"teacher{k}.h5") for k in (100, 200)]
    summary = bc_train_job(teacher_path=tiny_training["paths"][0], teacher_steps=[100, 200], bc=bc, out_h5=outs)
    return {"bc": bc, "paths": outs, "summary": summary, "dir": d, "teacher": tiny_training["paths"][0]}


def test_student_files_follow_the_training_contract(students):
    from retland.base.checkpoints import TrainFile

    for k, path in zip((100, 200), students["paths"]):
        with TrainFile(path) as tf:
            a = tf.attrs
            assert a["algo"] == "bc" and int(a["teacher_step"]) == k and a["teacher_algo"] == "td3"
            assert os.path.samefile(a["replay_file"], students["teacher"])
            assert tf.checkpoint_steps == [20, 60] and tf.n_replay_rows == 0
            for s in (20, 60):
                ck = tf.f["checkpoints"][f"step{s}"].attrs
                assert (int(ck["replay_lo"]), int(ck["replay_hi"]), int(ck["n_updates"])) == (0, k, s)
            assert list(tf.learning_curve()["step"]) == [20, 40, 60]


def test_student_holds_its_teacher_and_post_update_job_runs(students, tmp_path):
    from retland.base.checkpoints import TrainFile, read_post_update
    from retland.jobs.sources import CheckpointSource
    from retland.jobs.post_update import post_update_job

    src = CheckpointSource(students["paths"][1])
    state, (lo, hi) = src.checkpoint(60)
    assert (lo, hi) == (0, 200) and src.replay.obs.shape[0] == 200
    with TrainFile(students["teacher"]) as tf:
        w = tf.f["checkpoints/step200/actor/params/MLP_0/Dense_0/kernel"][()]
    np.testing.assert_array_equal(np.asarray(state.teacher["params"]["MLP_0"]["Dense_0"]["kernel"]), w)
    outs = [str(tmp_path / "s20.h5"), str(tmp_path / "s60.h5")]
    post_update_job(train_path=students["paths"][1], seed=0, steps=[20, 60],
                    post_update={"n_samples": 4, "horizon": 30, "chunk_size": 4, "sample_seed": 0}, out_h5=outs)
    r, _, a = read_post_update(outs[1])
    assert a["update_kind"] == "bc_mse_step" and int(a["teacher_step"]) == 200 and r.shape == (4,)


def test_bc_post_update_job_builds_one_estimator_for_the_students_and_keeps_their_bits(students, tmp_path,
                                                                                      monkeypatch):
    """The students of one run share task and config: bc_post_update_job builds (and traces) one
    estimator for all of them, and every file holds the returns a job of its own writes."""
    import retland.analyses.post_update as P
    from retland.base.checkpoints import read_post_update
    from retland.jobs.bc import bc_post_update_job
    from retland.jobs.post_update import post_update_job

    pu = {"n_samples": 4, "horizon": 30, "chunk_size": 4, "sample_seed": 0}
    alone = []
    for i, path in enumerate(students["paths"]):
        outs = [str(tmp_path / f"alone{i}_s{k}.h5") for k in (20, 60)]
        post_update_job(train_path=path, seed=0, steps=[20, 60], post_update=pu, out_h5=outs)
        alone += outs
    built = []
    real = P.make_estimator
    monkeypatch.setattr(P, "make_estimator", lambda *a, **k: built.append(1) or real(*a, **k))
    shared = [str(tmp_path / f"shared{i}_s{k}.h5") for i in range(len(students["paths"])) for k in (20, 60)]
    bc_post_update_job(train_paths=students["paths"], steps=[20, 60], post_update=pu, out_h5=shared)
    assert len(students["paths"]) >= 2 and len(built) == 1
    for a, b in zip(alone, shared):
        ra, _, aa = read_post_update(a)
        rb, _, ab = read_post_update(b)
        np.testing.assert_array_equal(ra, rb)
        assert aa["teacher_step"] == ab["teacher_step"]


def test_killed_bc_job_resumes_to_identical_files(students, tmp_path):
    from retland.base.checkpoints import TrainFile
    from retland.jobs.bc import bc_train_job

    outs = [str(tmp_path / f"teacher{k}.h5") for k in (100, 200)]

    def die(msg):
        if "step 40/60" in msg:
            raise KeyboardInterrupt

    import retland.jobs.bc as J
    real_log = J.log
    J.log = die
    try:
        with pytest.raises(KeyboardInterrupt):
            bc_train_job(teacher_path=students["teacher"], teacher_steps=[100, 200], bc=students["bc"], out_h5=outs,
                         resume_every_minutes=0)
    finally:
        J.log = real_log
    assert not any(os.path.exists(p) for p in outs)
    s = bc_train_job(teacher_path=students["teacher"], teacher_steps=[100, 200], bc=students["bc"], out_h5=outs,
                     resume_every_minutes=0)
    assert s["resumed_from"] == 40
    for a, b in zip(students["paths"], outs):
        with TrainFile(a) as fa, TrainFile(b) as fb:
            for name in ("step20", "step60"):
                ga, gb = fa.f["checkpoints"][name], fb.f["checkpoints"][name]
                ga.visititems(lambda n, o: np.testing.assert_array_equal(o[()], gb[n][()])
                              if hasattr(o, "shape") else None)
            np.testing.assert_array_equal(fa.learning_curve()["return"], fb.learning_curve()["return"])
