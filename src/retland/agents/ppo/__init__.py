"""PPO (Schulman et al. 2017) with the hyperparameters of the paper's Table 1.

The paper's PPO is CleanRL's continuous-action PPO run on Brax (A.1; the authors'
code adapts CleanRL's jax/brax variant). Split as brax/training splits
its agents: ``config`` (the frozen Table 1 config), ``networks`` (policy and value nets,
observation normaliser, optimizer), ``state`` (the agent state and the saved training
environments), ``losses`` (GAE, the clipped surrogate, the PPO update), ``collection``
(rollouts with the raw Brax env) and ``train_loop`` (the jitted iteration and the hooks
the one training driver, ``retland.training``, calls). This module is the agent (the
``retland.agents.Agent`` protocol): ``init``, the policy and the post-update u(theta, X)
of paper Eq. 3 / Sec. 3.1.

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

Atari (paper A.6; CleanRL's ``ppo_atari`` as the authors ran it): the same PPO maths
(``losses``: GAE, clipped surrogate, minibatch epochs) with ``actions: discrete`` (a
categorical policy; the deterministic policy is the argmax) and ``torso: nature_cnn``
(``networks``: one Nature CNN shared by the policy and value heads), plus
``clip_value_loss`` and ``anneal_lr_steps``; ``check_env`` refuses a config whose action
space is not the environment's. The games are host-stepped: training is
``training.HostOnPolicyLoop`` (``host_fns``: one jitted call per step choosing every
copy's action, one jitted update per iteration; checkpoints save each training
environment's snapshot in ``env_state/state``), and u(theta, X) is ``host_update`` (a
``rollout.HostUpdate``, protocol ``"authors_atari"``: the authors'
``atari_policy_variance.py``, a fresh num_envs x unroll_length collection from the saved
training environments with sampled actions, then one full PPO update continuing the
checkpoint's Adam state at its last learning rate), evaluated greedily by
``rollout.HostRollout``. ``SUITE_DEFAULTS["atari"]`` holds CleanRL's Atari values, which
``config.agent_overrides`` puts beneath the config's ``suites.atari.agents.ppo``.

Where the authors' PPO code departs from Table 1 (2 x 64 tanh networks), Table 1 is
followed. Table 1 says nothing about observation normalisation and the authors' code had
none: ``config/paper.yaml`` sets ``normalize_observations: false`` (identity, never
updated) to match them; the default ``true`` (CleanRL / brax PPO practice) is kept for
the small-scale configs, where it helps PPO learn within minutes.
"""

from __future__ import annotations

import jax

from ...base.envs import is_host_stepped
from .config import PPOConfig
from .networks import init_obs_norm, nets, normalize, optimizer
from .state import PPOState, SavedEnvs
from .losses import Batch, one_step_update, ppo_update
from .collection import collect, fresh_envs, saved_envs, saved_host_envs


NAME = "ppo"


UPDATE_KIND = "ppo_update"  # u(theta, X) of the post-update files
SUITES = ("brax", "atari")  # Brax: stepped inside JAX; Atari: on the host (training.HostOnPolicyLoop, host_update)

#: ``anneal_lr_steps`` value meaning "over the whole training run" (CleanRL's annealing;
#: ``config.agent_overrides`` replaces it by the run's ``total_steps``)
ANNEAL_OVER_TRAINING = -1

#: Hyperparameters per suite that replace Table 1's defaults before the config's overrides
#: (``config.agent_overrides``): on Atari, CleanRL's ``ppo_atari`` as the authors ran it
#: (paper A.6): Nature CNN, 8 envs x 128 steps, 4 minibatches, 4 epochs, lr 2.5e-4 annealed
#: to 0 over training, clip 0.1 (value loss clipped too), entropy 0.01, value 0.5, grad
#: norm 0.5, no observation normaliser; post-update: one full PPO update on a fresh 8 x 128
#: collection from the checkpoint's training environments (``post_update_protocol``).
SUITE_DEFAULTS = {
    "atari": dict(actions="discrete", torso="nature_cnn", normalize_observations=False, num_envs=8,
                  unroll_length=128, num_minibatches=4, epochs=4, learning_rate=2.5e-4, clip_coef=0.1,
                  clip_value_loss=True, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, discount=0.99,
                  gae_lambda=0.95, anneal_lr_steps=ANNEAL_OVER_TRAINING, post_update_protocol="authors_atari"),
}


def init(key: jax.Array, obs_dim: int, act_dim: int, cfg: PPOConfig) -> PPOState:
    actor, critic = nets(cfg, act_dim).init(key, obs_dim)
    opt = optimizer(cfg).init({"actor": actor, "critic": critic})
    return PPOState(actor, critic, opt, init_obs_norm(obs_dim), SavedEnvs())


def policy_params(state: PPOState):
    """theta of the deterministic policy: the actor network *and* the observation
    normaliser it is applied with (``make_policy`` needs both)."""
    return {"actor": state.actor, "obs_norm": state.obs_norm}


def make_policy(act_dim: int, cfg: PPOConfig):
    """Deterministic policy on normalised observations: the Gaussian mean clipped to
    [-1, 1] as every action sent to the environment (continuous actions), the argmax of
    the logits (discrete actions: the greedy policy the paper evaluates on Atari)."""
    net = nets(cfg, act_dim)

    def apply(params, obs):
        return net.dist.mode(net.actor(params["actor"], normalize(params["obs_norm"], obs, cfg)))

    return apply


def check_env(env, cfg: PPOConfig) -> None:
    """Refuse a config whose action space is not the environment's (an Atari game has
    ``discrete_actions``: PPO there needs ``actions: discrete``)."""
    discrete = bool(getattr(env, "discrete_actions", False))
    if discrete != (cfg.actions == "discrete"):
        want = "discrete" if discrete else "continuous"
        raise ValueError(f"{env.spec.suite}/{env.spec.name} has {want} actions: PPO needs actions: {want}, "
                         f"got {cfg.actions!r}")


def update_from_saved(state: PPOState, batch, key: jax.Array, cfg: PPOConfig, act_dim: int) -> PPOState:
    """The update part of u(theta, X) for a batch collected from the saved training
    environments: ``one_step_update`` (``post_update_protocol = "authors"``) or one full
    ``ppo_update`` (``"authors_atari"``; its first ``post_update_grad_steps`` when > 0)."""
    if cfg.post_update_protocol == "authors_atari":
        return ppo_update(state, batch, key, cfg, act_dim, n_steps=cfg.post_update_grad_steps or None,
                          post_update=True)
    return one_step_update(state, batch, key, cfg, act_dim)


def post_update_state(state: PPOState, key: jax.Array, cfg: PPOConfig, env) -> PPOState:
    """The whole agent state after u(theta, X) (``post_update`` returns its policy part).

    ``post_update_protocol = "authors"`` / ``"authors_atari"``: continue ``collect`` from
    the checkpoint's saved training environments (``saved_envs``) for unroll_length steps
    with the checkpoint's stochastic policy (key ``split(key)[0]``), then
    ``update_from_saved`` (key ``split(key)[1]``). ``"full_update"``: collect from fresh
    resets (keys ``split(key, 3)[:2]``), then ``ppo_update`` (``split(key, 3)[2]``), its
    first ``post_update_grad_steps`` steps when > 0. JAX-stepped suites only (a
    host-stepped one: ``host_update``)."""
    if is_host_stepped(env):
        raise ValueError(f"PPO's post-update in the host-stepped suite {env.spec.suite!r} steps host "
                         "environments: use host_update (analyses.post_update.make_estimator does)")
    if cfg.post_update_protocol == "full_update":
        k_reset, k_col, k_upd = jax.random.split(key, 3)
        env_state, ep_t, ep_ret = fresh_envs(env, cfg, k_reset)
        batch = collect(state, env, cfg, env_state, ep_t, ep_ret, k_col)[3]
        n = cfg.post_update_grad_steps or None
        return ppo_update(state, batch, k_upd, cfg, env.spec.act_dim, n_steps=n)
    k_col, k_mb = jax.random.split(key)
    env_state, ep_t, ep_ret = saved_envs(state, env, cfg)
    batch = collect(state, env, cfg, env_state, ep_t, ep_ret, k_col)[3]
    return update_from_saved(state, batch, k_mb, cfg, env.spec.act_dim)


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


def host_update(cfg: PPOConfig, env):
    """u(theta, X) in a host-stepped suite (Atari; the authors'
    ``eval_policy/experiments/atari_policy_variance.py``) as a
    :class:`retland.rollout.HostUpdate`: per key, the checkpoint's ``num_envs`` saved
    training environments (``env_state/``: snapshots, episode counters) are restored and
    continued for ``unroll_length`` steps with the checkpoint's stochastic policy (sampled
    actions), then ``update_from_saved`` (``"authors_atari"``: one full PPO update, epochs x
    num_minibatches Adam steps continuing the checkpoint's Adam state, at the learning rate
    of the checkpoint's last iteration; ``"authors"``: one Adam step). ``"full_update"`` (fresh resets) is refused: a host suite's resets are its
    copies' own streams, not the key's. The rollout of the result is the greedy policy
    (``make_policy``)."""
    from ...rollout import HostUpdate

    check_env(env, cfg)
    if cfg.post_update_protocol == "full_update":
        raise ValueError("PPO post_update_protocol 'full_update' (fresh resets drawn with the key) has no host-stepped "
                         "version: use 'authors_atari' or 'authors' (continue the saved training environments)")
    act_dim = env.spec.act_dim
    sample, _ = host_fns(cfg, act_dim)

    def envs(state: PPOState):
        return saved_host_envs(state, cfg)

    def learn(state: PPOState, key, data):
        return policy_params(update_from_saved(state, Batch(*data), key, cfg, act_dim))

    return HostUpdate(envs, sample, learn, cfg.num_envs, cfg.unroll_length, env.episode_length)


Config = PPOConfig


# the pieces, importable as retland.agents.ppo.<name> (tests, bench and the post-update)
from .config import OBS_NORM_EPS, POST_UPDATE_PROTOCOLS  # noqa: E402
from .networks import (Categorical, CategoricalActor, Gaussian, GaussianActor, NatureCNN, Nets,  # noqa: E402
                       ObsNorm, ValueNet, update_obs_norm)
from .collection import sample_actions  # noqa: E402
from .losses import (advantages, clipped_surrogate, gae, gaussian_entropy,  # noqa: E402
                     gaussian_log_prob, ppo_loss)
from .collection import env_state_tree, with_fresh_saved_envs  # noqa: E402
from .train_loop import (Carry, PPOLoop, host_fns, init_carry, iteration, iterations_for,  # noqa: E402
                         make_train_chunk, schedule, training_setup)

__all__ = [
    "NAME",
    "UPDATE_KIND",
    "Config",
    "PPOConfig",
    "init",
    "policy_params",
    "make_policy",
    "post_update",
    "post_update_state",
    "check_env",
    "update_from_saved",
    "host_update",
    "host_fns",
    "saved_host_envs",
    "sample_actions",
    "nets",
    "Nets",
    "NatureCNN",
    "CategoricalActor",
    "Gaussian",
    "Categorical",
    "OBS_NORM_EPS",
    "POST_UPDATE_PROTOCOLS",
    "GaussianActor",
    "ObsNorm",
    "ValueNet",
    "optimizer",
    "normalize",
    "init_obs_norm",
    "update_obs_norm",
    "PPOState",
    "SavedEnvs",
    "Batch",
    "advantages",
    "clipped_surrogate",
    "gae",
    "gaussian_entropy",
    "gaussian_log_prob",
    "ppo_loss",
    "ppo_update",
    "one_step_update",
    "collect",
    "fresh_envs",
    "saved_envs",
    "env_state_tree",
    "with_fresh_saved_envs",
    "Carry",
    "PPOLoop",
    "init_carry",
    "iteration",
    "iterations_for",
    "make_train_chunk",
    "schedule",
    "training_setup",
]
