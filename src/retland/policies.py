"""Ready-made apply functions for policies trained elsewhere (issue 24, "your own agent").

The ``external`` agent (:mod:`retland.agents.external`) runs a policy given as an apply
function named ``module:function`` and called as ``apply(params, obs, **apply_kwargs) ->
action``. ``params`` is the checkpoint as ``retland import`` (:mod:`retland.external`) hands
it over: nested dicts of arrays with string keys, exactly what
``flax.serialization.to_state_dict`` makes of the saved object (a tuple becomes
``{"0": ..., "1": ...}``, a ``flax.struct.dataclass`` or NamedTuple a dict of its fields).
Two common layouts are ready here:

``retland.policies:brax_ppo``
    a ``brax.training.agents.ppo`` policy saved with ``brax.io.model.save_params`` (the
    ``params`` that ``ppo.train`` returns or hands to ``policy_params_fn``).
``retland.policies:flax_mlp``
    a plain ``flax.linen`` MLP of ``nn.Dense`` layers (hidden activation, final tanh),
    saved with ``flax.serialization.to_bytes`` or orbax.

Both are pure JAX functions of ``(params, obs)``: jittable, and vmappable over params (the
analyses vmap rollouts over many perturbed copies of a checkpoint). ``obs`` may carry any
leading batch axes. A checkpoint without a key the layout needs is refused with a
``ValueError`` naming the key (``params['1']['params']['hidden_3']``).

This module imports JAX, flax and brax only inside the functions.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

__all__ = ["brax_ppo", "flax_mlp"]


# --- helpers ---------------------------------------------------------------------------------

def _where(path: Sequence[str]) -> str:
    return "params" + "".join(f"[{k!r}]" for k in path)


def _get(tree: Any, path: Sequence[str], fn: str, what: str, root: Sequence[str] = ()) -> Any:
    """``tree[path[0]][path[1]]...``, or a ``ValueError`` naming the first missing key
    (``tree`` sits at ``root`` in the checkpoint: the message names the full path)."""
    node, path = tree, (*root, *path)
    for i, key in enumerate(path):
        if i < len(root):
            continue
        if not isinstance(node, Mapping):
            raise ValueError(f"{fn}: {_where(path[:i])} is not a dict of parameters (got "
                             f"{type(node).__name__}); expected {what}")
        if key not in node:
            have = ", ".join(repr(k) for k in list(node)[:12]) or "nothing"
            raise ValueError(f"{fn}: the checkpoint has no key {key!r} at {_where(path[:i])} "
                             f"(missing {_where(path[: i + 1])}: {what}; it holds {have})")
        node = node[key]
    return node


def _activation(activation: str | Callable, fn: str) -> Callable:
    """A ``flax.linen`` activation by name (``"relu"``, ``"swish"``, ``"tanh"``, ...) or the
    callable itself."""
    if callable(activation):
        return activation
    from flax import linen

    f = getattr(linen, str(activation), None)
    if not callable(f) or isinstance(f, type):
        raise ValueError(f"{fn}: unknown activation {activation!r} (a flax.linen function name "
                         f"such as 'relu', 'swish', 'tanh', 'elu', 'gelu')")
    return f


def _dense_chain(layers: Mapping, prefix: str, sizes: Sequence[int], root: Sequence[str],
                 fn: str, size_arg: str) -> int:
    """Checks that ``layers`` holds ``{prefix}0 ... {prefix}N`` (N = len(sizes)) with those
    hidden widths and no further layer; returns the last layer's output width."""
    sizes = tuple(int(n) for n in sizes)
    found = []
    while f"{prefix}{len(found)}" in layers:
        bias = _get(layers, (f"{prefix}{len(found)}", "bias"), fn, "the layer's bias", root)
        _get(layers, (f"{prefix}{len(found)}", "kernel"), fn, "the layer's kernel", root)
        found.append(int(bias.shape[-1]))
    if not found or found[:-1] != list(sizes):
        hint = (f"the checkpoint's hidden layers are {tuple(found[:-1])}" if found
                else f"it has no {prefix}<i> layer")
        if len(found) <= len(sizes):
            _get(layers, (f"{prefix}{len(found)}",), fn,  # raises, naming the missing layer
                 f"layer {len(found)} of {size_arg}={sizes} + output ({hint})", root)
        raise ValueError(f"{fn}: {size_arg}={sizes} does not match the checkpoint at "
                         f"{_where(root)}: {hint}")
    return found[-1]


# --- brax.training PPO -----------------------------------------------------------------------

def brax_ppo(params: Mapping, obs: Any, *, policy_hidden_layer_sizes: Sequence[int] = (32, 32, 32, 32),
             activation: str | Callable = "swish", normalize_observations: bool = True,
             distribution_type: str = "tanh_normal", **network_kwargs) -> Any:
    """The deterministic action of a ``brax.training.agents.ppo`` policy: exactly
    ``ppo_networks.make_inference_fn(networks)(params, deterministic=True)(obs, key)[0]``.

    Checkpoint: the ``params = (normalizer_params, policy_params, value_params)`` that
    ``brax.training.agents.ppo.train.train`` returns (or passes to ``policy_params_fn``),
    saved with ``brax.io.model.save_params``. After ``to_state_dict``:

    - ``params["0"]``: the observation normaliser, a ``RunningStatisticsState`` as a dict
      of its fields; ``"mean"`` and ``"std"`` (arrays of the observation's shape) are read
      when ``normalize_observations`` (``count``, ``summed_variance``, ``std_eps`` may be
      there and are not used). Not read without normalisation.
    - ``params["1"]``: the policy network, ``{"params": {...}}`` (the ``"params"`` level may
      be missing). For ``distribution_type="tanh_normal"`` (brax's default) brax's ``MLP``:
      ``hidden_0`` ... ``hidden_N`` with ``{"kernel", "bias"}``, N =
      ``len(policy_hidden_layer_sizes)``, the last one of width 2 x action size. For
      ``"normal"``: ``MLP_0`` (``hidden_0`` ... ``hidden_{N-1}``), ``Dense_0`` (the mean,
      width = action size) and ``std_param``, ``std_logparam`` or ``Dense_1`` (a
      state-dependent std); ``noise_std_type`` and ``state_dependent_std`` are read off
      those keys unless given.
    - ``params["2"]``: the value network, never read.

    Keywords: those of the ``ppo.train`` run's ``network_factory``
    (``make_ppo_networks``): ``policy_hidden_layer_sizes`` (brax's default ``(32,) * 4``),
    ``activation`` (a ``flax.linen`` name, default ``"swish"``), ``distribution_type``,
    and ``normalize_observations`` as given to ``ppo.train``; any further keyword
    (``mean_clip_scale``, ``policy_obs_key``, ...) goes to ``make_ppo_networks``. The
    observation and action sizes are read off ``obs`` and the checkpoint.

    The action of a ``tanh_normal`` policy is in [-1, 1]; a ``normal`` policy's mode is not
    squashed (brax's inference function does not squash it either).
    """
    import jax
    import jax.numpy as jnp
    from brax.training import types as brax_types
    from brax.training.acme import running_statistics
    from brax.training.agents.ppo import networks as ppo_networks

    fn = "brax_ppo"
    if not isinstance(params, Mapping):
        raise ValueError(f"{fn}: params must be the checkpoint as nested dicts (to_state_dict of the "
                         f"(normalizer, policy, value) tuple), got {type(params).__name__}")
    policy = _get(params, ("1",), fn, "the policy network's parameters (the tuple's second item)")
    if not isinstance(policy, Mapping):
        raise ValueError(f"{fn}: params['1'] is not a dict of the policy network's parameters "
                         f"(got {type(policy).__name__})")
    root: tuple = ("1", "params")
    if "params" not in policy:
        policy, root = {"params": policy}, ("1",)
    layers = policy["params"]
    if not isinstance(layers, Mapping):
        raise ValueError(f"{fn}: {_where(root)} is not a dict of layers (got {type(layers).__name__})")
    sizes = tuple(int(n) for n in policy_hidden_layer_sizes)
    kwargs = dict(network_kwargs)
    if distribution_type == "tanh_normal":
        action_size = _dense_chain(layers, "hidden_", sizes, root, fn, "policy_hidden_layer_sizes") // 2
    elif distribution_type == "normal":
        mlp = _get(layers, ("MLP_0",), fn, "the hidden layers of a 'normal' policy (PolicyModuleWithStd)",
                   root)
        hidden = _dense_chain(mlp, "hidden_", sizes[:-1], (*root, "MLP_0"), fn, "policy_hidden_layer_sizes")
        if sizes and hidden != sizes[-1]:
            raise ValueError(f"{fn}: policy_hidden_layer_sizes={sizes} does not match the checkpoint at "
                             f"{_where((*root, 'MLP_0'))}: its last hidden layer has width {hidden}")
        action_size = int(_get(layers, ("Dense_0", "bias"), fn, "the mean layer of a 'normal' policy",
                               root).shape[-1])
        kwargs.setdefault("state_dependent_std", "Dense_1" in layers)
        kwargs.setdefault("noise_std_type", "log" if "std_logparam" in layers else "scalar")
    else:
        raise ValueError(f"{fn}: distribution_type must be 'tanh_normal' or 'normal', got {distribution_type!r}")

    if normalize_observations:
        mean = _get(params, ("0", "mean"), fn, "the observation normaliser's running mean")
        std = _get(params, ("0", "std"), fn, "the observation normaliser's running std")
        # as JAX arrays: numpy leaves would normalise in numpy outside jit (other rounding)
        normalizer = running_statistics.NestedMeanStd(mean=jax.tree_util.tree_map(jnp.asarray, mean),
                                                      std=jax.tree_util.tree_map(jnp.asarray, std))
        preprocess = running_statistics.normalize
    else:
        normalizer, preprocess = None, brax_types.identity_observation_preprocessor

    obs_key = kwargs.get("policy_obs_key", "state")
    obs_size = obs[obs_key].shape[-1] if isinstance(obs, Mapping) else obs.shape[-1]
    networks = ppo_networks.make_ppo_networks(
        obs_size, action_size, preprocess_observations_fn=preprocess,
        policy_hidden_layer_sizes=sizes, activation=_activation(activation, fn),
        distribution_type=distribution_type, **kwargs)
    logits = networks.policy_network.apply(normalizer, policy, obs)
    return networks.parametric_action_distribution.mode(logits)


# --- a plain flax MLP ------------------------------------------------------------------------

_MLP_CLASS = None


def _mlp_class():
    """The ``flax.linen`` module behind :func:`flax_mlp` (built once, on first use)."""
    global _MLP_CLASS
    if _MLP_CLASS is None:
        from flax import linen as nn

        class PlainMLP(nn.Module):
            """``nn.Dense`` layers ``Dense_0 ... Dense_N`` with ``activation`` between them
            and ``final`` after the last."""

            hidden: Sequence[int]
            out: int
            activation: Callable
            final: Callable | None

            @nn.compact
            def __call__(self, x):
                for width in self.hidden:
                    x = self.activation(nn.Dense(width)(x))
                x = nn.Dense(self.out)(x)
                return x if self.final is None else self.final(x)

        _MLP_CLASS = PlainMLP
    return _MLP_CLASS


def flax_mlp(params: Mapping, obs: Any, *, hidden: Sequence[int] = (64, 64),
             activation: str | Callable = "relu", final: str | Callable | None = "tanh") -> Any:
    """The action of a plain ``flax.linen`` MLP policy: ``final(Dense_N(... activation(
    Dense_0(obs))))``, as this module computes it::

        class Policy(nn.Module):
            @nn.compact
            def __call__(self, x):
                for width in hidden:
                    x = nn.relu(nn.Dense(width)(x))
                return nn.tanh(nn.Dense(act_dim)(x))

    Checkpoint: the variables of such a module (``model.init(...)`` or the trained ones),
    saved with ``flax.serialization.to_bytes`` (or orbax): ``{"params": {"Dense_0":
    {"kernel", "bias"}, ..., "Dense_N": {...}}}`` with N = ``len(hidden)``; the ``"params"``
    level may be missing (a saved ``variables["params"]``). The action size is the width of
    ``Dense_N``. The layers must be ``nn.Dense`` with a bias, auto-named ``Dense_<i>`` (the
    names ``nn.compact`` gives them).

    Keywords: ``hidden`` (widths of the hidden layers), ``activation`` (a ``flax.linen``
    name: ``"relu"``, ``"tanh"``, ``"swish"``, ...), ``final`` (``"tanh"`` for actions in
    [-1, 1]; ``None`` or ``"none"`` for the raw output).
    """
    fn = "flax_mlp"
    if not isinstance(params, Mapping):
        raise ValueError(f"{fn}: params must be the checkpoint as nested dicts, got {type(params).__name__}")
    root: tuple = ("params",)
    if "params" in params:
        layers = params["params"]
    else:
        layers, root = params, ()
    if not isinstance(layers, Mapping):
        raise ValueError(f"{fn}: {_where(root)} is not a dict of layers (got {type(layers).__name__})")
    out = _dense_chain(layers, "Dense_", hidden, root, fn, "hidden")
    if final is None or (isinstance(final, str) and final.lower() in ("none", "linear", "identity", "")):
        squash = None
    else:
        squash = _activation(final, fn)
    module = _mlp_class()(hidden=tuple(int(n) for n in hidden), out=out,
                          activation=_activation(activation, fn), final=squash)
    return module.apply({"params": layers}, obs)
