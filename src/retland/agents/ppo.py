"""PPO (Schulman et al. 2017) with the hyperparameters of the paper's Table 1.

The paper's PPO is CleanRL's continuous-action PPO run on Brax (A.1; the authors'
code adapts CleanRL's jax/brax variant). One file: the frozen config, ``init``, data
collection with the raw Brax env, GAE, the clipped PPO update, the jitted training
loop (vmapped over seeds) with its host driver ``train``, and the post-update
u(theta, X) of paper Eq. 3 / Sec. 3.1.

Algorithm (CleanRL's ``ppo_continuous_action``, Table 1 values):

* separate policy and value MLPs (2 x 256 ReLU; CleanRL's orthogonal init: gain sqrt 2
  in hidden layers, 0.01 at the policy output, 1 at the value output);
* tanh-free Gaussian policy, mean = MLP(obs), state-independent learned ``log_std``
  (initialised at 0); actions are sampled unclipped (the log-probabilities are of the
  sampled action) and clipped to [-1, 1] only when stepping the environment; the
  deterministic policy analysed by the paper is the clipped mean;
* each iteration collects ``num_envs x unroll_length`` transitions (2048 x 16), then
  runs ``epochs`` (4, Table 1 "Num. Updates") passes of ``num_minibatches`` (2) Adam
  steps over a random permutation of the batch; one Adam (lr 0.0026, eps 1e-5) over
  the policy and value parameters together, gradients clipped to global norm 1;
* loss = clipped surrogate (clip 0.2) + vf_coef (2) * 0.5 * MSE(V, GAE return)
  - ent_coef * entropy, with **ent_coef = 0** (the authors' configuration; Table 1
  lists no entropy bonus); advantages normalised per minibatch; value loss unclipped;
  no learning-rate annealing (the authors' configuration);
* GAE (gamma 0.99, lambda 0.95) with terminations and time limits told apart: a
  terminated step does not bootstrap, a step truncated by the time limit
  (``env.episode_length``) bootstraps from the value of its true next observation;
  both cut the GAE trace. Each env that ends is reset with a fresh draw from rho_0.

Observation normalisation (running mean/var as CleanRL/brax PPO) is part of the agent
state (``obs_norm``) and of the policy parameters (``policy_params`` returns
``{"actor", "obs_norm"}``), so it is saved in every checkpoint and applied by every
later rollout: ``clip((obs - mean) / sqrt(var + 1e-8), -10, 10)``. Within one
iteration collection, GAE and every minibatch step use the same normaliser (so the
importance ratio starts at exactly 1); the normaliser then absorbs the iteration's
observations (Chan et al.'s parallel mean/variance update). The post-update does not
update it.

Checkpoints: training advances in whole iterations of B = num_envs x unroll_length
environment steps per seed. A requested checkpoint (or total) step s is taken after
iteration ``round(s / B)`` (half up, at least 1) and stored under its requested name
``step{s}`` (so the workflow finds it) with extra attributes ``env_steps`` (the exact
number of environment steps, iterations x B) and ``iterations``. The learning curve
records exact environment steps. Paper scale: B = 32768, 60M steps -> 1831 iterations;
the checkpoint at 6M steps is iteration 183 (5,996,544 steps). The learning curve is
evaluated every ``max(1, max_chunk // B)`` iterations plus at every checkpoint and at
the end (set ``max_chunk`` to ~1e6 steps for paper-scale PPO runs, or the deterministic
1000-step evaluation of every single iteration dominates). Every checkpoint group also
holds ``env_state/``: the training carry's ``num_envs`` environments at that moment (the
simulator state ``state/...``, the per-env episode step counters ``ep_t`` of the time
limit and running returns ``ep_ret``; one dataset per leaf, leading axis num_envs; 2.3
MB (hopper) to 5.2 MB (ant) per checkpoint and seed at Table 1 sizes), from which the
post-update continues. Read back through the agent template, they appear as
``PPOState.env_state`` (a ``SavedEnvs``; empty during training, where the carry holds
the live environments).

Post-update u(theta, X) (``post_update``; paper Eq. 3, Sec. 3.1) follows the authors'
analysis code (github.com/nathanrahn/return-landscapes, commit a378f9c), read for this:

* What they do. ``run_algorithm/experiments/train_ppo.py`` (the PPO training) saves, at
  the start of every logged iteration (l. 461-472), a ``Stuff`` with the ``TrainState``
  (parameters and Adam state), the brax states ``handle`` of the num_envs training envs
  (EpisodeWrapper step counters included), ``next_obs``/``next_done`` and the
  hyperparameters. ``eval_policy/experiments/policy_variance.py`` (``noise_type:
  ppo_optimization``, l. 483-509 and 562-577) loads it and, per sample key, continues
  training's ``rollout`` (train_ppo.py l. 302-322, vmapped over keys only, l. 95-97) for
  ``num_steps`` (16) steps from those env states with the stochastic Gaussian policy
  (sampled action stored, clipped to [-1, 1] for the env), runs training's
  ``compute_gae`` (l. 211-236) and training's ``update_ppo`` (l. 239-299) with
  ``update_epochs=1, batch_size=minibatch_size, minibatch_size=minibatch_size``
  (l. 504-508): ONE Adam step, continuing the saved Adam state (count, moments and,
  through ``optax.inject_hyperparams``, the learning rate 0.0026), on minibatch_size =
  B / num_minibatches = 16,384 transitions. Which ones: ``permutation(key,
  minibatch_size)`` (l. 286) permutes rows 0..minibatch_size-1 of the time-major
  flattened batch, so the minibatch is always the first unroll_length / num_minibatches
  (8) steps of every env; the key only orders them (irrelevant to the mean loss). The
  randomness of X is the policy's action noise. Their PPO has no observation
  normalisation. The updated deterministic actor (clipped mean) is then rolled out.
* What this module does (``post_update_protocol = "authors"``, the default): training
  saves the carry's environments with every checkpoint (above); ``post_update`` restores
  them (``saved_envs``), continues ``collect`` for unroll_length steps with the
  checkpoint's stochastic policy and ``key``, computes GAE exactly as training
  (``advantages``, the checkpoint's value net) and takes ONE Adam step of
  ``optimizer(cfg)`` continuing the checkpoint's Adam state, on rows [0, B /
  num_minibatches) of the time-major batch, their rows (``post_update_minibatch =
  "first"``; ``"random"`` takes B / num_minibatches rows drawn with the key instead,
  like one training minibatch). The normaliser, if any, is the checkpoint's, frozen.
* Remaining differences. (1) Their analysis rebuilt the ``TrainState`` around a template
  optimizer whose gradient clip is ``clip_by_global_norm(0.1)`` (policy_variance.py
  l. 250-255); flax restores the optimizer *state* only, so their post-update step
  clipped the gradient at 0.1 where training clipped at 1 (the learning rate came from
  the restored state). Here the step clips at ``max_grad_norm`` (one step of the training
  algorithm); ``post_update_max_grad_norm: 0.1`` reproduces theirs. (2) As in this
  module's training and unlike theirs, a time-limit end bootstraps in GAE (theirs treats
  it as terminal) and an env that ends draws a fresh rho_0 state (their brax 0.0.13
  AutoResetWrapper returns each env to its own first initial state). (3) Their snapshot
  is taken before an iteration, ours after iteration i (agent updated, normaliser
  absorbed, envs after i's rollout): the same moment, the state the next iteration starts
  from.
* A checkpoint without ``env_state/`` (a training file written before they were saved)
  makes ``post_update`` raise ``CheckpointError`` naming the file and the missing group
  (no silent fallback): retrain it. ``post_update_protocol = "full_update"`` (chosen at
  training time: the post-update reads the config stored in the training file) keeps the
  former u: one full PPO update (``epochs x num_minibatches`` Adam steps, only the first
  ``post_update_grad_steps = k > 0`` when set) on num_envs x unroll_length transitions
  collected from fresh resets drawn with ``key``; it needs no saved environments.

Where the authors' PPO code departs from Table 1 (2 x 64 tanh networks), Table 1 is
followed. Table 1 says nothing about observation normalisation and the authors' code had
none: ``config/paper.yaml`` sets ``normalize_observations: false`` (identity, never
updated) to match them; the default ``true`` (CleanRL / brax PPO practice) is kept for
the small-scale configs, where it helps PPO learn within minutes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import h5py
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..base.checkpoints import CheckpointError, flatten_with_names, path_name
from ..training import LoopBase, Schedule, Setup
from .common import HyperparamsMixin

NAME = "ppo"
UPDATE_KIND = "ppo_update"  # u(theta, X) of the post-update files

OBS_NORM_EPS = 1e-8
POST_UPDATE_PROTOCOLS = ("authors", "full_update")


@dataclasses.dataclass(frozen=True)
class PPOConfig(HyperparamsMixin):
    """Table 1 (PPO). Every default is the paper's value (or the authors' code where
    Table 1 is silent: ent_coef, advantage normalisation, no value clipping)."""

    ALGO = "PPO"

    hidden: tuple = (256, 256)
    num_envs: int = 2048  # "Parallel Envs"
    unroll_length: int = 16  # "Steps to update"
    num_minibatches: int = 2
    epochs: int = 4  # "Num. Updates"
    learning_rate: float = 0.0026
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    adam_eps: float = 1e-5
    discount: float = 0.99
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    vf_coef: float = 2.0
    ent_coef: float = 0.0
    max_grad_norm: float = 1.0
    normalize_advantages: bool = True
    normalize_observations: bool = True
    obs_clip: float = 10.0
    # post-update u(theta, X) (module docstring):
    post_update_protocol: str = "authors"  # or "full_update" (the former u, fresh resets)
    post_update_minibatch: str = "first"  # authors: "first" (their rows) or "random"
    post_update_max_grad_norm: float | None = None  # authors: None = max_grad_norm; theirs 0.1
    post_update_grad_steps: int = 0  # full_update: 0 = all epochs x num_minibatches steps

    def __post_init__(self):
        for k in ("num_envs", "unroll_length", "num_minibatches", "epochs"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"PPO {k} must be >= 1, got {getattr(self, k)}")
        if self.batch_size % self.num_minibatches:
            raise ValueError(f"PPO batch num_envs*unroll_length={self.batch_size} is not divisible by "
                             f"num_minibatches={self.num_minibatches}")
        if self.post_update_protocol not in POST_UPDATE_PROTOCOLS:
            raise ValueError(f"post_update_protocol must be one of {POST_UPDATE_PROTOCOLS}, "
                             f"got {self.post_update_protocol!r}")
        if self.post_update_minibatch not in ("first", "random"):
            raise ValueError(f"post_update_minibatch must be 'first' or 'random', got {self.post_update_minibatch!r}")
        if self.post_update_max_grad_norm is not None and not self.post_update_max_grad_norm > 0:
            raise ValueError(f"post_update_max_grad_norm must be > 0 or None, got {self.post_update_max_grad_norm}")
        if not 0 <= self.post_update_grad_steps <= self.epochs * self.num_minibatches:
            raise ValueError(f"post_update_grad_steps must be in [0, epochs*num_minibatches], "
                             f"got {self.post_update_grad_steps}")
        if self.post_update_protocol == "authors" and self.post_update_grad_steps > 1:
            raise ValueError(f"post_update_grad_steps={self.post_update_grad_steps} needs post_update_protocol "
                             f"'full_update' (the authors' post-update is one Adam step)")

    @property
    def batch_size(self) -> int:
        """Environment steps per iteration and seed (B)."""
        return self.num_envs * self.unroll_length

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches


# --- networks ------------------------------------------------------------------------

def _hidden_init():
    return nn.initializers.orthogonal(math.sqrt(2.0))


class GaussianActor(nn.Module):
    """mean = MLP(obs) (no tanh), log_std a free parameter (state independent)."""

    hidden: Sequence[int]
    act_dim: int

    @nn.compact
    def __call__(self, obs):
        x = obs
        for h in self.hidden:
            x = nn.relu(nn.Dense(h, kernel_init=_hidden_init(), bias_init=nn.initializers.zeros)(x))
        mean = nn.Dense(self.act_dim, kernel_init=nn.initializers.orthogonal(0.01),
                        bias_init=nn.initializers.zeros)(x)
        log_std = self.param("log_std", nn.initializers.zeros, (self.act_dim,))
        return mean, jnp.broadcast_to(log_std, mean.shape)


class ValueNet(nn.Module):
    hidden: Sequence[int]

    @nn.compact
    def __call__(self, obs):
        x = obs
        for h in self.hidden:
            x = nn.relu(nn.Dense(h, kernel_init=_hidden_init(), bias_init=nn.initializers.zeros)(x))
        return nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0), bias_init=nn.initializers.zeros)(x)[..., 0]


def _nets(cfg: PPOConfig, act_dim: int):
    return GaussianActor(cfg.hidden, act_dim), ValueNet(cfg.hidden)


def optimizer(cfg: PPOConfig, max_grad_norm: float | None = None) -> optax.GradientTransformation:
    """One Adam over {"actor", "critic"} with global-norm gradient clipping (Table 1) at
    ``max_grad_norm`` (default ``cfg.max_grad_norm``; the optimizer state does not
    depend on it)."""
    return optax.chain(
        optax.clip_by_global_norm(cfg.max_grad_norm if max_grad_norm is None else max_grad_norm),
        optax.adam(cfg.learning_rate, b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps),
    )


# --- state ---------------------------------------------------------------------------

class ObsNorm(NamedTuple):
    mean: jax.Array
    var: jax.Array
    count: jax.Array


class SavedEnvs:
    """The training environments saved with a checkpoint (``PPOState.env_state``).

    A pytree of the arrays of the checkpoint's ``env_state/`` group, keyed by dataset
    name ({} when there is none; ``missing`` then says which file and group lacked
    it). The agent template (``init``) holds an empty one, which reads the group itself
    (``read_h5_group``, called by ``base.checkpoints.read_pytree``): the structure of a
    simulator state is the environment's, unknown to ``init``; ``saved_envs`` rebuilds
    it. Static data (names, ``missing``) are the same for every complete checkpoint of
    an environment, so one compiled post-update serves them all.
    """

    def __init__(self, arrays: dict | None = None, missing: str = ""):
        self.arrays = dict(arrays or {})
        self.missing = missing

    def read_h5_group(self, group: h5py.Group, name: str, where: str) -> "SavedEnvs":
        if name in group and isinstance(group[name], h5py.Group):
            arrays = {}
            group[name].visititems(lambda n, o: arrays.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
            if arrays:
                return SavedEnvs(arrays)
        return SavedEnvs(missing=f"{where}: group {group.name.rstrip('/')}/{name} is missing")

    def __repr__(self):
        return f"SavedEnvs({sorted(self.arrays)}, missing={self.missing!r})"


def _saved_envs_flatten(s: SavedEnvs):
    names = tuple(sorted(s.arrays))
    return [s.arrays[n] for n in names], (names, s.missing)


def _saved_envs_flatten_with_keys(s: SavedEnvs):
    names = tuple(sorted(s.arrays))
    return [(jax.tree_util.DictKey(n), s.arrays[n]) for n in names], (names, s.missing)


def _saved_envs_unflatten(aux, children) -> SavedEnvs:
    out = SavedEnvs.__new__(SavedEnvs)  # children may be tracers or placeholders
    out.arrays, out.missing = dict(zip(aux[0], children)), aux[1]
    return out


jax.tree_util.register_pytree_with_keys(SavedEnvs, _saved_envs_flatten_with_keys, _saved_envs_unflatten,
                                        _saved_envs_flatten)


class PPOState(NamedTuple):
    actor: Any
    critic: Any
    opt: Any  # optax state of optimizer(cfg) over {"actor": actor, "critic": critic}
    obs_norm: ObsNorm
    env_state: SavedEnvs = SavedEnvs()  # read from a checkpoint: its training environments


def init_obs_norm(obs_dim: int) -> ObsNorm:
    # gym's RunningMeanStd: mean 0, var 1, count 1e-4 (the first batch replaces it)
    return ObsNorm(jnp.zeros((obs_dim,), jnp.float32), jnp.ones((obs_dim,), jnp.float32),
                   jnp.asarray(1e-4, jnp.float32))


def init(key: jax.Array, obs_dim: int, act_dim: int, cfg: PPOConfig) -> PPOState:
    actor_net, critic_net = _nets(cfg, act_dim)
    ka, kc = jax.random.split(key)
    obs = jnp.zeros((1, obs_dim))
    actor = actor_net.init(ka, obs)
    critic = critic_net.init(kc, obs)
    opt = optimizer(cfg).init({"actor": actor, "critic": critic})
    return PPOState(actor, critic, opt, init_obs_norm(obs_dim), SavedEnvs())


def normalize(obs_norm: ObsNorm, obs: jax.Array, cfg: PPOConfig) -> jax.Array:
    if not cfg.normalize_observations:
        return obs
    z = (obs - obs_norm.mean) / jnp.sqrt(obs_norm.var + OBS_NORM_EPS)
    return jnp.clip(z, -cfg.obs_clip, cfg.obs_clip)


def update_obs_norm(n: ObsNorm, x: jax.Array) -> ObsNorm:
    """Running mean/variance absorbing the rows of ``x`` [B, obs_dim] (Chan et al.)."""
    b = jnp.asarray(x.shape[0], jnp.float32)
    bm = x.mean(0)
    bv = x.var(0)
    tot = n.count + b
    delta = bm - n.mean
    mean = n.mean + delta * b / tot
    m2 = n.var * n.count + bv * b + delta**2 * n.count * b / tot
    return ObsNorm(mean, m2 / tot, tot)


def policy_params(state: PPOState):
    """theta of the deterministic policy: the actor network *and* the observation
    normaliser it is applied with (``make_policy`` needs both)."""
    return {"actor": state.actor, "obs_norm": state.obs_norm}


def make_policy(act_dim: int, cfg: PPOConfig):
    """Deterministic policy: the Gaussian mean on normalised observations, clipped to
    [-1, 1] as every action sent to the environment."""
    actor_net, _ = _nets(cfg, act_dim)

    def apply(params, obs):
        mean, _ = actor_net.apply(params["actor"], normalize(params["obs_norm"], obs, cfg))
        return jnp.clip(mean, -1.0, 1.0)

    return apply


# --- PPO pieces ----------------------------------------------------------------------

def gaussian_log_prob(action, mean, log_std):
    return (-0.5 * ((action - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi)).sum(-1)


def gaussian_entropy(log_std):
    return (log_std + 0.5 * jnp.log(2.0 * jnp.pi * jnp.e)).sum(-1)


def gae(reward, value, next_value, term, end, discount: float, lam: float):
    """Generalised advantage estimation over the leading (time) axis.

    ``term`` = 1 where the episode terminated at this step (no bootstrap), ``end`` = 1
    where it ended for any reason (termination or time limit; the trace is cut).
    ``next_value`` is V of each step's true next observation (before any reset).
    Returns (advantages, returns = advantages + value).
    """
    delta = reward + discount * (1.0 - term) * next_value - value

    def body(a_next, x):
        d, e = x
        a = d + discount * lam * (1.0 - e) * a_next
        return a, a

    _, adv = jax.lax.scan(body, jnp.zeros_like(delta[0]), (delta, end), reverse=True)
    return adv, adv + value


def clipped_surrogate(ratio, adv, clip_coef: float):
    """CleanRL's policy loss: mean(max(-A r, -A clip(r, 1 - c, 1 + c)))."""
    return jnp.maximum(-adv * ratio, -adv * jnp.clip(ratio, 1.0 - clip_coef, 1.0 + clip_coef)).mean()


class Batch(NamedTuple):
    """One iteration's data, leading axes [unroll_length, num_envs]; raw observations."""

    obs: jax.Array
    action: jax.Array  # the sampled (unclipped) Gaussian action
    logp: jax.Array
    reward: jax.Array
    term: jax.Array
    end: jax.Array
    next_obs: jax.Array  # true next observation (before a reset)


def ppo_loss(params, mb, obs_norm, cfg: PPOConfig, act_dim: int):
    """(loss, (pg_loss, v_loss, entropy)) on one minibatch (obs, action, logp, adv, ret)."""
    actor_net, critic_net = _nets(cfg, act_dim)
    obs, action, old_logp, adv, ret = mb
    nobs = normalize(obs_norm, obs, cfg)
    mean, log_std = actor_net.apply(params["actor"], nobs)
    ratio = jnp.exp(gaussian_log_prob(action, mean, log_std) - old_logp)
    if cfg.normalize_advantages:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg = clipped_surrogate(ratio, adv, cfg.clip_coef)
    v_loss = 0.5 * ((critic_net.apply(params["critic"], nobs) - ret) ** 2).mean()
    ent = gaussian_entropy(log_std).mean()
    return pg - cfg.ent_coef * ent + cfg.vf_coef * v_loss, (pg, v_loss, ent)


def advantages(state: PPOState, batch: Batch, cfg: PPOConfig, act_dim: int):
    """GAE with the state's value net (normalised by its normaliser) over the batch,
    flattened time-major (row t * num_envs + e): the B rows (obs, action, logp, adv, ret)
    that minibatches index."""
    _, critic_net = _nets(cfg, act_dim)
    value = critic_net.apply(state.critic, normalize(state.obs_norm, batch.obs, cfg))
    next_value = critic_net.apply(state.critic, normalize(state.obs_norm, batch.next_obs, cfg))
    adv, ret = gae(batch.reward, value, next_value, batch.term, batch.end, cfg.discount, cfg.gae_lambda)
    B = batch.reward.shape[0] * batch.reward.shape[1]
    return jax.tree_util.tree_map(lambda x: x.reshape((B,) + x.shape[2:]),
                                  (batch.obs, batch.action, batch.logp, adv, ret))


def ppo_update(state: PPOState, batch: Batch, key: jax.Array, cfg: PPOConfig, act_dim: int,
               n_steps: int | None = None) -> PPOState:
    """One PPO update: GAE with the current value net, then ``epochs`` passes of
    ``num_minibatches`` Adam steps over random permutations of the batch (only the
    first ``n_steps`` of these steps when given). The normaliser is left unchanged."""
    flat = advantages(state, batch, cfg, act_dim)
    B = cfg.batch_size
    perms = jax.vmap(lambda k: jax.random.permutation(k, B))(jax.random.split(key, cfg.epochs))
    idx = perms.reshape(cfg.epochs * cfg.num_minibatches, cfg.minibatch_size)
    if n_steps:
        idx = idx[:n_steps]
    tx = optimizer(cfg)
    grad_fn = jax.grad(ppo_loss, has_aux=True)

    def step(carry, mb_idx):
        params, opt = carry
        mb = jax.tree_util.tree_map(lambda x: x[mb_idx], flat)
        grads, _ = grad_fn(params, mb, state.obs_norm, cfg, act_dim)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), None

    params = {"actor": state.actor, "critic": state.critic}
    (params, opt), _ = jax.lax.scan(step, (params, state.opt), idx)
    return state._replace(actor=params["actor"], critic=params["critic"], opt=opt)


def one_step_update(state: PPOState, batch: Batch, key: jax.Array, cfg: PPOConfig, act_dim: int) -> PPOState:
    """The authors' post-update step: GAE as in training, then ONE Adam step (clip at
    ``post_update_max_grad_norm``, default ``max_grad_norm``) continuing ``state.opt``,
    on one minibatch of B / num_minibatches rows of the time-major batch: rows
    [0, B / num_minibatches) (``post_update_minibatch = "first"``, theirs) or that many
    rows drawn with ``key`` (``"random"``). The normaliser is left unchanged."""
    flat = advantages(state, batch, cfg, act_dim)
    n = cfg.minibatch_size
    if cfg.post_update_minibatch == "random":
        idx = jax.random.permutation(key, cfg.batch_size)[:n]
        mb = jax.tree_util.tree_map(lambda x: x[idx], flat)
    else:
        mb = jax.tree_util.tree_map(lambda x: x[:n], flat)
    params = {"actor": state.actor, "critic": state.critic}
    grads, _ = jax.grad(ppo_loss, has_aux=True)(params, mb, state.obs_norm, cfg, act_dim)
    updates, opt = optimizer(cfg, cfg.post_update_max_grad_norm).update(grads, state.opt, params)
    params = optax.apply_updates(params, updates)
    return state._replace(actor=params["actor"], critic=params["critic"], opt=opt)


def _select(mask, a, b):
    """Per-env ``where(mask, a, b)`` over pytrees with leading axis num_envs."""
    return jax.tree_util.tree_map(
        lambda x, y: jnp.where(mask.reshape(mask.shape + (1,) * (x.ndim - 1)), x, y), a, b)


def collect(state: PPOState, env, cfg: PPOConfig, env_state, ep_t, ep_ret, key):
    """Roll the stochastic policy for ``unroll_length`` steps in ``num_envs`` envs
    (leading axis of ``env_state``), resetting each env that terminates or reaches the
    time limit with a fresh draw from rho_0. Returns (env_state, ep_t, ep_ret, Batch,
    finished episode returns [T, N], NaN where no episode ended)."""
    actor_net, _ = _nets(cfg, env.spec.act_dim)
    N = cfg.num_envs
    step_v = jax.vmap(env.step)
    reset_v = jax.vmap(env.reset)

    def body(c, k):
        env_state, ep_t, ep_ret = c
        k_act, k_reset = jax.random.split(k)
        obs = env.obs(env_state)
        mean, log_std = actor_net.apply(state.actor, normalize(state.obs_norm, obs, cfg))
        action = mean + jnp.exp(log_std) * jax.random.normal(k_act, mean.shape)
        logp = gaussian_log_prob(action, mean, log_std)
        nxt = step_v(env_state, jnp.clip(action, -1.0, 1.0))
        reward = env.reward(nxt)
        term = (env.done(nxt) > 0).astype(jnp.float32)
        ep_t = ep_t + 1
        ep_ret = ep_ret + reward
        end = (term > 0) | (ep_t >= env.episode_length)
        fresh = reset_v(jax.random.split(k_reset, N))
        env_state = _select(end, fresh, nxt)
        tr = Batch(obs, action, logp, reward, term, end.astype(jnp.float32), env.obs(nxt))
        finished = jnp.where(end, ep_ret, jnp.nan)
        return (env_state, jnp.where(end, 0, ep_t), jnp.where(end, 0.0, ep_ret)), (tr, finished)

    (env_state, ep_t, ep_ret), (batch, finished) = jax.lax.scan(
        body, (env_state, ep_t, ep_ret), jax.random.split(key, cfg.unroll_length))
    return env_state, ep_t, ep_ret, batch, finished


def fresh_envs(env, cfg: PPOConfig, key):
    """``num_envs`` fresh initial states and zeroed episode counters."""
    env_state = jax.vmap(env.reset)(jax.random.split(key, cfg.num_envs))
    return env_state, jnp.zeros((cfg.num_envs,), jnp.int32), jnp.zeros((cfg.num_envs,), jnp.float32)


def with_fresh_saved_envs(state: PPOState, env, cfg: PPOConfig, key) -> PPOState:
    """``state`` holding ``num_envs`` freshly reset environments as if saved with a checkpoint
    (benchmarks and tests of an untrained agent; a real checkpoint holds its own)."""
    return state._replace(env_state=SavedEnvs(dict(flatten_with_names(env_state_tree(*fresh_envs(env, cfg, key))))))


def saved_envs(state: PPOState, env, cfg: PPOConfig):
    """(env_state, ep_t, ep_ret) of the ``num_envs`` training environments saved with the
    checkpoint ``state`` was read from, in the structure ``collect`` takes (rebuilt from
    ``state.env_state`` by dataset name). Raises ``CheckpointError`` (naming the file and
    group when read from one) when the checkpoint has none."""
    saved = state.env_state
    if not saved.arrays:
        raise CheckpointError(
            (saved.missing or "this PPO state was not read from a checkpoint and")
            + ": no saved training environments (checkpoint group env_state/, written by PPO training"
            " since the post-update continues from them, post_update_protocol 'authors'); retrain this run")
    template = jax.eval_shape(lambda k: env_state_tree(*fresh_envs(env, cfg, k)), jax.random.PRNGKey(0))
    paths, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, leaf in paths:
        name = path_name(path)
        if name not in saved.arrays:
            raise CheckpointError(f"saved training environments: dataset env_state/{name} is missing "
                                  f"(has {sorted(saved.arrays)})")
        x = saved.arrays[name]
        if tuple(jnp.shape(x)) != tuple(leaf.shape):
            raise CheckpointError(f"saved training environments: env_state/{name} has shape {jnp.shape(x)}, "
                                  f"expected {tuple(leaf.shape)} (num_envs={cfg.num_envs})")
        leaves.append(jnp.asarray(x, leaf.dtype))
    out = jax.tree_util.tree_unflatten(treedef, leaves)
    return out["state"], out["ep_t"], out["ep_ret"]


def post_update_state(state: PPOState, key: jax.Array, cfg: PPOConfig, env) -> PPOState:
    """The whole agent state after u(theta, X) (``post_update`` returns its policy part).

    ``post_update_protocol = "authors"``: continue ``collect`` from the checkpoint's
    saved training environments (``saved_envs``) for unroll_length steps with the
    checkpoint's stochastic policy (key ``split(key)[0]``), then ``one_step_update``
    (key ``split(key)[1]``, used by ``post_update_minibatch = "random"`` only).
    ``"full_update"``: collect from fresh resets (keys ``split(key, 3)[:2]``), then
    ``ppo_update`` (``split(key, 3)[2]``), its first ``post_update_grad_steps`` steps
    when > 0."""
    if cfg.post_update_protocol == "full_update":
        k_reset, k_col, k_upd = jax.random.split(key, 3)
        env_state, ep_t, ep_ret = fresh_envs(env, cfg, k_reset)
        batch = collect(state, env, cfg, env_state, ep_t, ep_ret, k_col)[3]
        n = cfg.post_update_grad_steps or None
        return ppo_update(state, batch, k_upd, cfg, env.spec.act_dim, n_steps=n)
    k_col, k_mb = jax.random.split(key)
    env_state, ep_t, ep_ret = saved_envs(state, env, cfg)
    batch = collect(state, env, cfg, env_state, ep_t, ep_ret, k_col)[3]
    return one_step_update(state, batch, k_mb, cfg, env.spec.act_dim)


def post_update(state: PPOState, key: jax.Array, replay, lo, hi, cfg: PPOConfig, env):
    """u(theta, X), the authors' protocol by default (module docstring): X = num_envs x
    unroll_length transitions collected by the checkpoint's stochastic policy with
    ``key``, continuing the training environments saved with the checkpoint; u = ONE
    Adam step continuing the checkpoint's Adam state on B / num_minibatches of them, GAE
    with the checkpoint's value net; the normaliser is frozen. ``state`` must come from
    a checkpoint (``PPOState.env_state``; else ``CheckpointError``).
    ``replay``/``lo``/``hi`` are ignored. Returns the updated ``policy_params``.

    Jittable and vmappable over ``key`` (the saved environments are shared). Memory per
    vmapped sample (float32): the batch, B x (2 obs_dim + act_dim + 4) x 4 bytes (B =
    num_envs x unroll_length; 3.8 MB for hopper at Table 1 sizes) and its GAE/flattened
    copies, num_envs Brax states, and the activations of one minibatch step (forward +
    backward of both MLPs on B / num_minibatches = 16384 rows). Measured for the former
    full update (same collection, 8 such steps): the estimator (update + a 1000-step
    rollout) on hopper at Table 1 sizes needs ~135 MB of XLA temporaries per sample (CPU
    compile: 149 / 267 / 535 MB for chunks of 1 / 2 / 4), so chunk_size 250 needs ~34 GB;
    one step needs no more.
    """
    return policy_params(post_update_state(state, key, cfg, env))


# --- training ------------------------------------------------------------------------

class Carry(NamedTuple):
    agent: PPOState
    env_state: Any
    ep_t: jax.Array  # [num_envs]
    ep_ret: jax.Array  # [num_envs]
    key: jax.Array
    ret_sum: jax.Array  # finished training-episode returns since the chunk started (logs)
    ret_count: jax.Array


def iteration(c: Carry, env, cfg: PPOConfig) -> Carry:
    """One PPO iteration of one seed: collect, update, absorb the observations."""
    key, k_col, k_upd = jax.random.split(c.key, 3)
    env_state, ep_t, ep_ret, batch, finished = collect(c.agent, env, cfg, c.env_state, c.ep_t, c.ep_ret, k_col)
    agent = ppo_update(c.agent, batch, k_upd, cfg, env.spec.act_dim)
    if cfg.normalize_observations:
        agent = agent._replace(obs_norm=update_obs_norm(agent.obs_norm, batch.obs.reshape(-1, batch.obs.shape[-1])))
    done = jnp.isfinite(finished)
    return Carry(agent, env_state, ep_t, ep_ret, key,
                 c.ret_sum + jnp.where(done, finished, 0.0).sum(), c.ret_count + done.sum())


def make_train_chunk(env, cfg: PPOConfig):
    """``run(carry[S], n) -> carry[S]``: ``n`` PPO iterations (a dynamic count, so one
    compiled function serves every chunk length), vmapped over seeds, jitted."""
    batched = jax.vmap(lambda c: iteration(c, env, cfg))

    def run(carry: Carry, n):
        carry = carry._replace(ret_sum=jnp.zeros_like(carry.ret_sum), ret_count=jnp.zeros_like(carry.ret_count))
        return jax.lax.fori_loop(0, n, lambda i, c: batched(c), carry)

    return jax.jit(run, donate_argnums=(0,))


def init_carry(env, cfg: PPOConfig, seeds) -> Carry:
    spec = env.spec

    def one(seed):
        k_init, k_reset, key = jax.random.split(jax.random.PRNGKey(seed), 3)
        env_state, ep_t, ep_ret = fresh_envs(env, cfg, k_reset)
        return Carry(init(k_init, spec.obs_dim, spec.act_dim, cfg), env_state, ep_t, ep_ret, key,
                     jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32))

    return jax.jit(jax.vmap(one))(jnp.asarray(seeds, jnp.uint32))


def env_state_tree(env_state, ep_t, ep_ret) -> dict:
    """What a checkpoint saves of the training environments (``env_state/`` group): the
    simulator states and the per-env episode step counters and returns."""
    return {"state": env_state, "ep_t": ep_t, "ep_ret": ep_ret}


def iterations_for(step: int, batch_size: int) -> int:
    """The whole iteration closest to ``step`` environment steps (half up), >= 1."""
    return max(1, (2 * int(step) + batch_size) // (2 * batch_size))


def schedule(total_steps: int, checkpoint_steps: Sequence[int], batch_size: int, eval_every: int):
    """(n_iterations, {requested step: iteration}, sorted chunk boundaries in iterations)."""
    n_total = iterations_for(total_steps, batch_size)
    ck = {int(s): iterations_for(s, batch_size) for s in checkpoint_steps}
    bounds = set(range(eval_every, n_total, eval_every)) | set(ck.values()) | {n_total}
    return n_total, ck, sorted(bounds)


class PPOLoop(LoopBase):
    """PPO's :class:`~retland.training.TrainingLoop`: units are iterations of B environment
    steps; no replay log; a checkpoint holds the agent and the training environments; a
    resume point the whole carry (environment states included)."""

    def __init__(self, env, cfg: PPOConfig, schedule):
        self.env, self.cfg, self.schedule = env, cfg, schedule
        self.run = make_train_chunk(env, cfg)
        self.reference = env.reference_state()
        self._ck = None

    def advance(self, carry, u0, u1):
        return self.run(carry, u1 - u0), None

    def eval_params(self, carry):
        return policy_params(carry.agent)

    def checkpoint(self, carry, j, label, u):
        if self._ck is None or self._ck[0] is not carry:  # the agent and, for the post-update, the envs
            self._ck = (carry, carry.agent._replace(env_state=env_state_tree(carry.env_state, carry.ep_t,
                                                                             carry.ep_ret)))
        state = jax.tree_util.tree_map(lambda x: np.asarray(x[j]), self._ck[1])
        B = self.cfg.batch_size
        return state, {"replay_lo": 0, "replay_hi": 0, "n_updates": u * self.cfg.epochs * self.cfg.num_minibatches,
                       "env_steps": u * B, "iterations": u}

    def note(self, carry, logged):
        cnt = np.asarray(carry.ret_count)
        ret = float(np.asarray(carry.ret_sum).sum() / cnt.sum()) if cnt.sum() else float("nan")
        return f", train episodes {ret:.1f}"


def training_setup(env, cfg: PPOConfig, seeds, total_steps: int, checkpoint_steps, max_chunk: int, log) -> Setup:
    """E1 for PPO (``training.train``): steps are rounded to whole iterations (module
    docstring); ``max_chunk`` (environment steps) sets the learning-curve spacing,
    ``max(1, max_chunk // B)`` iterations. The training files hold no replay (0 rows; PPO
    is on-policy): checkpoints carry the agent state (actor, critic, opt, obs_norm) with
    ``replay_lo = replay_hi = 0`` and the training environments (``env_state/``, for the
    post-update); a resume point holds the whole training carry."""
    spec = env.spec
    B = cfg.batch_size
    eval_every = max(1, int(max_chunk) // B)
    n_total, ck_iters, bounds = schedule(total_steps, checkpoint_steps, B, eval_every)
    log(f"[train] {spec.suite}/{spec.name} {NAME} seeds={list(seeds)} steps={total_steps} -> {n_total} iterations "
        f"of {cfg.num_envs}x{cfg.unroll_length}={B} env steps ({n_total * B} steps); backend={spec.backend}; "
        f"evaluation every {eval_every} iterations; checkpoints "
        + ", ".join(f"{s}->{it * B}" for s, it in ck_iters.items()))
    if len(set(ck_iters.values())) < len(ck_iters):
        log("[train] warning: several checkpoint steps round to the same iteration (same state)")
    by_iter: dict[int, list[int]] = {}
    for s, it in ck_iters.items():
        by_iter.setdefault(it, []).append(s)
    loop = PPOLoop(env, cfg, Schedule("iteration", n_total, B, tuple(bounds), by_iter))

    def file_setup(w):
        w.f.attrs["env_steps_per_iteration"] = B
        w.f.attrs["trained_env_steps"] = n_total * B

    return Setup(loop, init_carry(env, cfg, seeds), [B, eval_every], file_setup)


Config = PPOConfig
