"""Config validation: JSON schema first, then the checks a schema cannot express.

Every error names the offending key (``train.checkpoints``), so a bad config is
refused before any job runs.
"""

from __future__ import annotations

import os

import yaml

SCHEMA_PATH = os.path.join(
    os.path.dirname(__file__), "..", "..", "workflow", "schemas", "config.schema.yaml"
)


class ConfigError(ValueError):
    pass


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def load_schema(path: str | None = None) -> dict:
    """The config schema, with the names of the agents a config may train (``algos``) taken
    from the agent registry (``retland.agents.trainable``), not written in the file."""
    from .agents import trainable

    with open(path or SCHEMA_PATH) as f:
        schema = yaml.safe_load(f)
    schema["properties"]["algos"]["items"]["enum"] = trainable()
    return schema


def check_schema(config: dict, schema: dict) -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors:
            key = _key(e.absolute_path)
            if e.validator == "additionalProperties":
                extra = sorted(set(e.instance) - set(e.schema.get("properties", {})))
                where = f"under '{key}'" if e.absolute_path else "at the top level"
                lines.append(f"unknown key(s) {extra} {where}; allowed: {sorted(e.schema.get('properties', {}))}")
            elif e.validator == "required":
                lines.append(f"'{key}': {e.message}")
            else:
                lines.append(f"'{key}': {e.message}")
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(lines))


def check_semantics(config: dict) -> None:
    """Checks across keys that the schema cannot express."""
    from .agents import AGENTS
    from .base.brax_env import check_env_kwargs
    from .base.envs import known_envs

    problems = []
    run = config["run"]
    if os.path.basename(run) != run or run.startswith("."):  # '.', '..', 'a/b', '.hidden'
        problems.append(f"'run': {run!r} is not a plain file name (outputs go to results/<run>/)")
    for env_name, kw in (config.get("env_kwargs") or {}).items():
        try:
            check_env_kwargs(env_name, kw)
        except ValueError as e:
            problems.append(str(e))
    for algo in sorted(set(config["algos"]) | {"td3", "sac", "ppo"} & set(config["train"])):
        t = train_settings(config, algo)
        where = f"train.{algo}" if algo in config["train"] else "train"
        beyond = [s for s in t["checkpoints"] if s > t["total_steps"]]
        if beyond:
            problems.append(
                f"'{where}.checkpoints': steps {beyond} are beyond the training length of {algo}, "
                f"total_steps={t['total_steps']}"
            )
    for a in config["algos"]:
        if a not in AGENTS:
            problems.append(f"'algos': unknown algorithm {a!r}; known: {sorted(AGENTS)}")
    problems += external_problems(config)
    if not config["algos"] and not external_agents(config):
        problems.append("'algos': empty, and no 'external' agents: nothing to analyse")
    known = known_envs()
    for e in config["envs"]:
        if e not in known:
            problems.append(f"'envs': unknown environment {e!r}; known: {sorted(known)}")
    envs = [e for e in config["envs"] if e in known]
    for a in config["algos"]:
        if a in AGENTS and envs and not any(known[e] in AGENTS[a].SUITES for e in envs):
            problems.append(f"'algos': {a} runs in suites {list(AGENTS[a].SUITES)}, none of the envs "
                            f"{envs} is in one")
    for name, overrides in (config.get("agents") or {}).items():
        if name in AGENTS:
            try:
                cfg = AGENTS[name].Config.from_dict(overrides)
            except (TypeError, ValueError) as e:
                problems.append(f"'agents.{name}': {e}")
                continue
            total = train_settings(config, name)["total_steps"]
            if getattr(cfg, "learning_starts", 0) >= total:
                problems.append(
                    f"'agents.{name}.learning_starts': {cfg.learning_starts} leaves no learning within "
                    f"the {name} training length total_steps={total}"
                )
    problems += suite_problems(config, envs)
    problems += atari_problems(config, envs)
    if not brax_envs(config):  # E3-E9 and E12 study Brax tasks: their sections are not used
        if problems:
            raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))
        return
    # E6-E7 (interpolation): its algorithm must be trained or imported in this config; E4, E5,
    # E8 and E12 run when theirs is (experiment_algo), and say what an agent lacks for them
    analysed = analysed_algos(config)
    interp_algo = (config.get("interpolation") or {}).get("algo")
    if interp_algo is not None and interp_algo not in analysed:
        problems.append(f"'interpolation.algo': {interp_algo!r} is neither trained (algos {config['algos']}) nor "
                        f"imported (external {sorted(external_agents(config))})")
    for section in OPTIONAL_EXPERIMENTS:
        algo = (config.get(section) or {}).get("algo")
        if algo is None:
            continue
        if algo not in AGENTS and algo not in external_agents(config):
            problems.append(f"'{section}.algo': unknown agent {algo!r}; known: {sorted(set(AGENTS) - {'external'})}"
                            f" and the config's external agents {sorted(external_agents(config))}")
        elif algo in analysed and agent_lacks(config, algo, section):
            problems.append(f"'{section}.algo': {algo} lacks {list(agent_lacks(config, algo, section))}, which "
                            f"{section} needs (retland.agents.EXPERIMENT_NEEDS)")
    if interp_algo in analysed:
        if len(train_settings(config, interp_algo)["checkpoints"]) < 2:
            where = f"external.{interp_algo}.checkpoints" if interp_algo in external_agents(config) else "train.checkpoints"
            problems.append(f"'{where}': same-run interpolation pairs (Fig. 5, 6) need >= 2 checkpoints of {interp_algo}")
        if len(algo_seeds(config, interp_algo)) < 2:
            where = f"external.{interp_algo}.checkpoints" if interp_algo in external_agents(config) else "seeds"
            problems.append(f"'{where}': different-run interpolation pairs (Fig. 5, 6) need >= 2 seeds of {interp_algo}")
    problems += chosen_pair_problems(config)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def suite_problems(config: dict, envs) -> list[str]:
    """``suites.<suite>``: a section for a suite the agents know, and per (task, algorithm)
    of that suite a valid agent config and checkpoints within the training length."""
    from .agents import AGENTS
    from .base.envs import SUITES, suite_of

    problems = []
    for suite in (config.get("suites") or {}):
        if suite not in SUITES:
            problems.append(f"'suites': unknown suite {suite!r}; known: {sorted(SUITES)}")
        rd = (((config["suites"] or {}).get(suite) or {}).get("post_update") or {}).get("return_definition")
        if rd == "authors" and suite != "atari":  # the authors' evaluation through lives is Atari's
            problems.append(f"'suites.{suite}.post_update.return_definition': 'authors' is the authors' Atari "
                            "evaluation; other suites count to the first termination")
    for suite in sorted({suite_of(e) for e in envs} & set(config.get("suites") or {})):
        env = next(e for e in envs if suite_of(e) == suite)
        for algo in config["algos"]:
            if algo not in AGENTS or suite not in AGENTS[algo].SUITES:
                continue
            where = f"suites.{suite}"
            try:
                agent_config(config, algo, env)
            except (TypeError, ValueError) as e:
                problems.append(f"'{where}.agents.{algo}': {e}")
            t = train_settings(config, algo, env)
            beyond = [c for c in t["checkpoints"] if c > t["total_steps"]]
            if beyond:
                problems.append(f"'{where}.train.checkpoints': steps {beyond} are beyond the training length "
                                f"of {algo} on {suite}, total_steps={t['total_steps']}")
    return problems


def atari_problems(config: dict, envs) -> list[str]:
    """E11 (Fig. 19-21): the ``atari`` section's algorithm must be trained on the games, and
    Fig. 19's same-run / different-run pairs need two checkpoints and two seeds."""
    from .base.envs import suite_of

    games = [e for e in envs if suite_of(e) == "atari"]
    atari = config.get("atari")
    if not games:
        return []
    if not atari:
        return ["'atari': the config names Atari games but has no 'atari' section (Fig. 19-21)"]
    algo = atari["algo"]
    if algo not in config["algos"]:
        return [f"'atari.algo': {algo!r} is not among the trained algos {config['algos']}"]
    problems = []
    if atari.get("btp_grid") == "inclusive" and atari["btp_points"] < 3:  # Fig. 19's grid counts its endpoints
        problems.append(f"'atari.btp_points': the inclusive grid (atari.btp_grid) counts both endpoints: needs >= 3, "
                        f"got {atari['btp_points']}")
    if len(train_settings(config, algo, games[0])["checkpoints"]) < 2:
        problems.append(f"'suites.atari.train.checkpoints': same-run pairs (Fig. 19) need >= 2 checkpoints of {algo}")
    if len(settings_for(config, games[0])["seeds"]) < 2:
        where = "suites.atari.seeds" if "seeds" in suite_section(config, games[0]) else "seeds"
        problems.append(f"'{where}': different-run pairs (Fig. 19) need >= 2 seeds")
    return problems


TRAIN_OVERRIDABLE = ("total_steps", "checkpoints", "max_chunk_steps")
#: top-level sections a ``suites.<suite>`` section may override for that suite's tasks
SUITE_SECTIONS = ("seeds", "episode_length", "train", "agents", "post_update")


def suite_section(config: dict, env: str) -> dict:
    """``suites.<suite of env>`` (empty when the config has none)."""
    from .base.envs import suite_of

    return ((config.get("suites") or {}).get(suite_of(env)) or {})


def settings_for(config: dict, env: str) -> dict:
    """``seeds``, ``episode_length``, ``train``, ``agents`` and ``post_update`` as the task
    ``env`` sees them: ``suites.<suite>`` overrides the top-level sections for the tasks of
    its suite (Atari trains PPO with CleanRL's Atari settings, another length and, at paper
    scale, 5 runs while Brax keeps Table 1 and 20). ``seeds`` and ``episode_length`` are
    replaced; ``train`` and ``post_update`` key by key (a suite's ``train`` keys also win
    over ``train.<algo>``); ``agents.<algo>`` as a whole."""
    own = suite_section(config, env)
    out = {k: own.get(k, config[k]) for k in ("seeds", "episode_length")}
    train = dict(config["train"])
    for k, v in (own.get("train") or {}).items():
        train[k] = v
        for algo in ("td3", "sac", "ppo"):
            if isinstance(train.get(algo), dict) and k in train[algo]:
                train[algo] = {**train[algo]}
                del train[algo][k]
    out["train"] = train
    out["agents"] = {**(config.get("agents") or {}), **(own.get("agents") or {})}
    out["post_update"] = {**config["post_update"], **(own.get("post_update") or {})}
    return out


def brax_envs(config: dict) -> list[str]:
    """The config's Brax tasks: the ones E3-E9 and E12 analyse (the others get E1-E2)."""
    from .base.brax_env import BRAX_TASKS

    return [e for e in config["envs"] if e in BRAX_TASKS]


def train_settings(config: dict, algo: str, env: str | None = None) -> dict:
    """Training length, sorted checkpoints and chunk bound of ``algo`` (on ``env``, when
    given: its suite's overrides apply, :func:`settings_for`): ``train.<algo>`` overrides
    the shared ``train`` keys (PPO runs 60M steps where TD3/SAC run 1M)."""
    if algo in external_agents(config):  # imported: its checkpoints are its files' steps
        steps = external_steps(config, algo)
        return {"total_steps": steps[-1], "checkpoints": steps, "max_chunk_steps": None}
    train = config["train"] if env is None else settings_for(config, env)["train"]
    own = train.get(algo) or {}
    out = {k: own.get(k, train.get(k)) for k in TRAIN_OVERRIDABLE}
    out["checkpoints"] = sorted(int(s) for s in out["checkpoints"])
    if train.get("eval_horizon") is not None:  # only where set: the train params of other tasks stay as they were
        out["eval_horizon"] = int(train["eval_horizon"])
    return out


def validate(config: dict, schema: dict | None = None) -> dict:
    """Validate ``config``; returns it unchanged or raises ConfigError naming the key."""
    if not isinstance(config, dict):
        raise ConfigError(f"config must be a mapping, got {type(config).__name__}")
    check_schema(config, schema or load_schema())
    check_semantics(config)
    check_geometry(config)
    problems = bc_problems(config)
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))
    return config


def landscape_algo(requested: str, algos) -> str:
    """E3 (Fig. 1, 27): the algorithm whose policies are mapped. ``"auto"``: SAC where it
    is trained (the paper's Fig. 1 shows SAC policies), else TD3, else the first of
    ``algos``; any other value is returned as is (``check_geometry`` checks it is trained)."""
    if requested != "auto":
        return requested
    algos = list(algos)
    for a in ("sac", "td3"):
        if a in algos:
            return a
    if not algos:
        raise ConfigError("'landscape.algo': auto, but no algorithm is trained")
    return algos[0]


def check_geometry(config: dict) -> None:
    """E3-E5 (landscape, failures, start_states): keys that refer to other keys."""
    problems = []
    if not brax_envs(config):
        return
    land = config.get("landscape")
    if land and land["algo"] != "auto" and land["algo"] not in analysed_algos(config):
        problems.append(f"'landscape.algo': {land['algo']!r} is not trained (algos: {config['algos']}) "
                        f"nor imported (external: {sorted(external_agents(config))})")
    ss = config.get("start_states")
    ss_algo = experiment_algo(config, "start_states")
    if ss and ss_algo and not set(ss["seeds"]) & set(algo_seeds(config, ss_algo)):
        problems.append(f"'start_states.seeds': none of {ss['seeds']} is a seed of {ss_algo} "
                        f"{algo_seeds(config, ss_algo)}")
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def bc_problems(config: dict) -> list[str]:
    """E12 (behaviour cloning): keys that refer to other keys."""
    bc = config.get("bc")
    if not bc or not brax_envs(config):
        return []
    problems = []
    if "td3" not in config["algos"]:  # E12 clones TD3 runs: skipped without them (experiment_algo)
        return []
    if bc["teachers_per_run"] > len(train_settings(config, "td3")["checkpoints"]):
        problems.append(f"'bc.teachers_per_run': {bc['teachers_per_run']} teachers need as many TD3 checkpoints, "
                        f"train has {len(train_settings(config, 'td3')['checkpoints'])}")
    if not set(bc["seeds"]) & set(config["seeds"]):
        problems.append(f"'bc.seeds': none of {bc['seeds']} is a training seed {config['seeds']}")
    beyond = [s for s in bc["checkpoints"] if s > bc["total_steps"]]
    if beyond:
        problems.append(f"'bc.checkpoints': steps {beyond} are beyond the students' training length "
                        f"bc.total_steps={bc['total_steps']}")
    return problems


def bc_seeds(config: dict) -> list[int]:
    """The TD3 runs E12 clones: ``bc.seeds`` that are training seeds."""
    return [int(s) for s in config["bc"]["seeds"] if s in set(config["seeds"])]


def bc_teacher_steps(config: dict) -> list[int]:
    """The teachers of every run: ``bc.teachers_per_run`` TD3 checkpoints spread evenly."""
    from .analyses.bc import teacher_steps

    return teacher_steps(train_settings(config, "td3")["checkpoints"], int(config["bc"]["teachers_per_run"]))


def agent_overrides(config: dict, algo: str, env: str | None = None) -> dict:
    """The hyperparameters of ``algo`` that differ from its defaults on ``env``: the agent's
    own defaults for the task's suite (``SUITE_DEFAULTS``: PPO on Atari takes CleanRL's
    Atari settings, paper A.6) under the config's ``agents.<algo>`` (``suites.<suite>``'s
    where given, :func:`settings_for`)."""
    from .agents import declaration
    from .base.envs import suite_of

    if env is None:
        return dict((config.get("agents") or {}).get(algo) or {})
    agent = declaration(algo)
    preset = agent.SUITE_DEFAULTS.get(suite_of(env), {})
    out = {**preset, **(settings_for(config, env)["agents"].get(algo) or {})}
    whole_run = agent.ANNEAL_OVER_TRAINING
    if whole_run is not None and out.get("anneal_lr_steps") == whole_run:
        out["anneal_lr_steps"] = train_settings(config, algo, env)["total_steps"]
    return out


def agent_config(config: dict, algo: str, env: str | None = None):
    from .agents import declaration

    return declaration(algo).Config.from_dict(agent_overrides(config, algo, env))


# --- agents analysed but not trained here (issue 24), and experiments per agent -------------

#: config sections whose experiment runs only when its agent is analysed in the config and
#: has what it needs (``retland.agents.lacks``): E4, E5, E8 (Algorithm 1) and E12
OPTIONAL_EXPERIMENTS = ("failures", "start_states", "rejection", "bc")
#: the agent of each when its section names none (the paper's)
DEFAULT_EXPERIMENT_ALGO = {"failures": "td3", "start_states": "td3", "rejection": "td3", "bc": "td3"}


def external_agents(config: dict) -> dict:
    """``external``: name -> entry of every policy trained elsewhere (docs/your-own-agent.md)."""
    return dict(config.get("external") or {})


def analysed_algos(config: dict) -> list[str]:
    """The agents whose checkpoints this config analyses: the trained ``algos``, then the
    imported ``external`` agents."""
    return list(config["algos"]) + [n for n in external_agents(config) if n not in config["algos"]]


def external_steps(config: dict, name: str) -> list[int]:
    """The checkpoint steps of external agent ``name`` (every seed has the same ones:
    :func:`external_problems`)."""
    return sorted({int(c["step"]) for c in external_agents(config)[name]["checkpoints"]})


def external_files(config: dict, name: str, seed: int) -> dict[int, str]:
    """step -> checkpoint file of seed ``seed`` of external agent ``name``."""
    return {int(c["step"]): c["path"] for c in external_agents(config)[name]["checkpoints"] if int(c["seed"]) == int(seed)}


def algo_seeds(config: dict, algo: str, env: str | None = None) -> list[int]:
    """The seeds of ``algo``: an external agent's checkpoint seeds, else the config's (on
    ``env``: its suite's, :func:`settings_for`)."""
    if algo in external_agents(config):
        return sorted({int(c["seed"]) for c in external_agents(config)[algo]["checkpoints"]})
    return [int(x) for x in (config["seeds"] if env is None else settings_for(config, env)["seeds"])]


def agent_lacks(config: dict, algo: str, section: str) -> tuple:
    """What ``algo`` (trained or external) lacks for the experiment of config ``section``."""
    from .agents import lacks

    return lacks("external" if algo in external_agents(config) else algo, section)


def experiment_algo(config: dict, section: str) -> str | None:
    """The agent experiment ``section`` (:data:`OPTIONAL_EXPERIMENTS`) runs on, or None when
    it is skipped: no section, its agent (``<section>.algo``, else the paper's) is not
    analysed in this config, or lacks what the experiment needs."""
    sec = config.get(section)
    if not sec:
        return None
    algo = sec.get("algo", DEFAULT_EXPERIMENT_ALGO[section])
    if section == "bc" and algo not in config["algos"]:  # E12 clones the runs trained here
        return None
    if algo not in analysed_algos(config) or agent_lacks(config, algo, section):
        return None
    return algo


def skipped_experiments(config: dict) -> list[str]:
    """One line per optional experiment this config skips, and why (the workflow prints them)."""
    out = []
    for section in OPTIONAL_EXPERIMENTS:
        sec = config.get(section)
        if not sec or experiment_algo(config, section):
            continue
        algo = sec.get("algo", DEFAULT_EXPERIMENT_ALGO[section])
        why = (f"lacks {list(agent_lacks(config, algo, section))}" if algo in analysed_algos(config)
               else "is not trained here" if section == "bc" or algo not in external_agents(config) else "")
        out.append(f"{section}: skipped, its agent {algo} {why}".rstrip())
    return out


def external_problems(config: dict) -> list[str]:
    """``external.<name>``: a name that is no built-in agent, a known task of the config
    whose suite the external agent runs in, a checkpoint format, an apply function named
    module:function, and checkpoints with the same steps for every seed, on existing files."""
    from .agents import AGENTS
    from .base.envs import known_envs

    from .agents.external import SUITES

    problems = []
    known = known_envs()
    formats = ("brax", "flax", "orbax")  # retland.external.FORMATS (that module imports jax)
    for name, e in external_agents(config).items():
        where = f"'external.{name}"
        if name in AGENTS or not name.isidentifier():
            problems.append(f"{where}': the name must be an identifier and not a built-in agent's {sorted(AGENTS)}")
        if e["env"] not in config["envs"]:
            problems.append(f"{where}.env': {e['env']!r} is not among the config's envs {config['envs']}")
        elif known.get(e["env"]) not in SUITES:
            problems.append(f"{where}.env': {e['env']!r} is a {known.get(e['env'])} task; external agents run in {list(SUITES)}")
        if e["format"] not in formats:
            problems.append(f"{where}.format': {e['format']!r} is not one of {list(formats)}")
        if e["apply"].count(":") != 1 or not all(e["apply"].split(":")):
            problems.append(f"{where}.apply': {e['apply']!r} is not named as module:function")
        by_seed: dict = {}
        for c in e["checkpoints"]:
            by_seed.setdefault(int(c["seed"]), []).append(int(c["step"]))
            if not os.path.exists(c["path"]):
                problems.append(f"{where}.checkpoints': file {c['path']!r} (seed {c['seed']}, step {c['step']}) does not exist")
        steps = {s: sorted(v) for s, v in by_seed.items()}
        for s, v in steps.items():
            if len(set(v)) != len(v):
                problems.append(f"{where}.checkpoints': seed {s} names step(s) {sorted({x for x in v if v.count(x) > 1})} twice")
        if len({tuple(v) for v in steps.values()}) > 1:
            problems.append(f"{where}.checkpoints': every seed must have the same steps, got {steps}")
    return problems


def chosen_pair_problems(config: dict) -> list[str]:
    """``landscape.pair`` and ``interpolation.pairs`` name checkpoints of their agent."""
    problems = []
    for section, key in (("landscape", "pair"), ("interpolation", "pairs")):
        sec = config.get(section) or {}
        if not sec.get(key):
            continue
        algo = landscape_algo(sec["algo"], analysed_algos(config)) if section == "landscape" else sec["algo"]
        if algo not in analysed_algos(config):
            continue
        steps, seeds = set(train_settings(config, algo)["checkpoints"]), set(algo_seeds(config, algo))
        policies = sec[key] if section == "landscape" else [p for pair in sec[key] for p in (pair["a"], pair["b"])]
        for p in policies:
            if int(p["seed"]) not in seeds or int(p["step"]) not in steps:
                problems.append(f"'{section}.{key}': {algo} has no checkpoint at seed {p['seed']}, step {p['step']} "
                                f"(seeds {sorted(seeds)}, steps {sorted(steps)})")
    return problems
