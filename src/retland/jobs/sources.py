"""Training files opened for analysis, and the sample keys of the post-update jobs.

:class:`CheckpointSource` is one training file: agent module, agent config, environment
(``src.agent``, ``src.cfg``, ``src.env``: what every ``analyses`` builder takes as its
``src``, see :class:`retland.analyses.source.Source`), the full replay log on the device
and the agent state of any checkpoint. :class:`Sources` opens the files of a path pattern
once each; :class:`Policies` reads the policy parameters of any (seed, step) of one
(env, algo). JAX is imported when a file is opened, not with this module.
"""

from __future__ import annotations

import json
import os


def sample_key(sample_seed: int, seed: int, step: int):
    """The key of the post-update samples of checkpoint ``step`` of training seed ``seed``:
    PRNGKey(sample_seed) folded with the seed, then the step."""
    import jax

    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(sample_seed), seed), step)


class CheckpointSource:
    """One training file opened for analysis: agent, config, environment, full replay
    log on the device (one shape for every checkpoint, so one compiled estimator), and
    the agent state of any checkpoint."""

    def __init__(self, train_path: str):
        import jax

        from ..agents import get_agent
        from ..base.checkpoints import TrainFile
        from ..base.envs import make_env
        from ..base.replay import from_numpy

        self.path = train_path
        with TrainFile(train_path) as tf:
            self.attrs = tf.attrs
            self.steps = tf.checkpoint_steps
            replay_file = self.attrs.get("replay_file")  # a BC student's data: its teacher run's log
        with TrainFile(replay_file or train_path) as tf:
            n_rows = tf.n_replay_rows  # 0 for on-policy agents (PPO): no replay log
            replay = tf.replay(0, n_rows) if n_rows else None
        # a policy trained elsewhere (retland import): algo is the researcher's label, agent the implementation
        self.agent = get_agent(self.attrs.get("agent", self.attrs["algo"]))
        self.cfg = self.agent.Config.from_dict(json.loads(self.attrs["agent_config"]))
        self.env_kwargs = json.loads(self.attrs.get("env_kwargs", "{}"))  # files before task variants: {}
        self.env = make_env(self.attrs["env"], self.attrs["backend"], int(self.attrs["episode_length"]),
                            self.env_kwargs)
        spec = self.env.spec
        self.template = jax.eval_shape(
            lambda k: self.agent.init(k, spec.obs_dim, spec.act_dim, self.cfg), jax.random.PRNGKey(0)
        )
        self.replay = from_numpy(replay) if replay is not None else None

    def checkpoint(self, step: int):
        """(agent state, (lo, hi)): rows [lo, hi) of the replay are the buffer at ``step``."""
        from ..base.checkpoints import TrainFile

        with TrainFile(self.path) as tf:
            state, ck = tf.checkpoint(step, self.template)
        return state, (int(ck["replay_lo"]), int(ck["replay_hi"]))


class Sources:
    """Training files opened once each (CheckpointSource is costly: it loads the replay)."""

    def __init__(self, pattern: str):
        self.pattern, self.cache = pattern, {}

    def __call__(self, algo: str, seed: int):
        path = self.pattern.format(algo=algo, seed=int(seed))
        if path not in self.cache:
            self.cache[path] = CheckpointSource(path)
        return self.cache[path]


def seed_of_path(path: str) -> int:
    base = os.path.basename(path)
    if not (base.startswith("seed") and base.endswith(".h5")):
        raise ValueError(f"training file {path!r} is not named seed<N>.h5")
    return int(base[4:-3])


class Policies:
    """Policy parameters of any (seed, step) of one (env, algo): one CheckpointSource for
    the agent, config and environment (the first file), plain checkpoint reads otherwise."""

    def __init__(self, train_paths):
        self.paths = {seed_of_path(p): p for p in train_paths}
        first = sorted(self.paths)[0]
        self.src = CheckpointSource(self.paths[first])
        self._sources = {first: self.src}

    def source(self, seed: int):
        seed = int(seed)
        if seed not in self.paths:
            raise ValueError(f"no training file for seed {seed} (have {sorted(self.paths)})")
        if seed not in self._sources:
            self._sources = {seed: CheckpointSource(self.paths[seed])}  # one replay in memory
        return self._sources[seed]

    def theta(self, seed: int, step: int):
        from ..base.checkpoints import TrainFile

        with TrainFile(self.paths[int(seed)]) as tf:
            state, _ = tf.checkpoint(int(step), self.src.template)
        return self.src.agent.policy_params(state)
