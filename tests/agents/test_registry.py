"""The agent registry (retland.agents): every declared agent's implementation provides the
protocol; a module that lacks a member is refused naming what it lacks, and nothing
half-registered is left behind; which agents run in which suites."""

import os
import types

import pytest
import yaml

from retland import agents

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_registered_agents_provide_the_protocol():
    for name, decl in agents.AGENTS.items():
        m = agents.get_agent(name)  # the implementation, checked against its declaration
        assert m.NAME == decl.NAME == name and isinstance(m.UPDATE_KIND, str)
        for member in ("init", "make_policy", "policy_params", "post_update"):
            assert callable(getattr(m, member)), (name, member)
        if getattr(m, "TRAINS_IN_ENV", True):
            assert callable(m.training_setup), name
    assert agents.AGENTS["bc"].TRAINS_IN_ENV is False


def test_agent_missing_members_is_refused_naming_them():
    m = types.ModuleType("fake_agent")
    m.NAME, m.UPDATE_KIND = "fake", "fake_step"
    m.init = m.make_policy = m.policy_params = lambda *a: None
    with pytest.raises(TypeError, match=r"lacks \['SUITES', 'Config', 'post_update', 'training_setup'\]"):
        agents.register(m)
    assert "fake" not in agents.AGENTS


def test_agent_name_registered_twice_is_refused():
    with pytest.raises(ValueError, match="'td3' is registered twice"):
        agents.register(agents.get_agent("td3"))


def test_agents_run_in_their_suites():
    assert agents.runs_in("td3", "quadruped-walk") and agents.runs_in("sac", "humanoid-stand")
    assert not agents.runs_in("ppo", "quadruped-walk") and agents.runs_in("ppo", "hopper")


def test_agent_given_whole_gets_the_declarations_defaults():
    """A plug-in module registered whole may leave out the optional declaration members; the
    config code that reads them (per-suite defaults, annealing marker) still works."""
    from retland import config

    m = types.ModuleType("whole_agent")
    m.NAME, m.UPDATE_KIND, m.SUITES = "whole", "whole_step", ("brax",)
    m.Config = agents.AGENTS["td3"].Config
    m.init = m.make_policy = m.policy_params = m.post_update = m.training_setup = lambda *a: None
    try:
        assert agents.register(m) is m and agents.get_agent("whole") is m
        assert (m.SUITE_DEFAULTS, m.ANNEAL_OVER_TRAINING, m.TRAINS_IN_ENV) == ({}, None, True)
        with open(os.path.join(REPO, "config", "config.yaml")) as f:
            cfg = yaml.safe_load(f)
        cfg["agents"] = {**(cfg.get("agents") or {}), "whole": {"batch_size": 8}}
        assert config.agent_overrides(cfg, "whole", "hopper") == {"batch_size": 8}
    finally:
        agents.AGENTS.pop("whole", None)
        agents._IMPLEMENTATIONS.pop("whole", None)


def test_what_each_agent_lacks_for_each_experiment():
    """Optional members are declared (PROVIDES, JAX-free) and checked against the
    implementation; an experiment's needs name what an agent lacks for it."""
    assert agents.lacks("td3", "rejection") == ()
    assert agents.lacks("sac", "rejection") == ("explore", "full_update")
    assert agents.lacks("ppo", "start_states") == ("replay_log",)
    assert agents.lacks("external", "rejection") == ("explore", "full_update", "replay_log")
    assert agents.lacks("external", "interpolation") == ()  # needs only the Agent members
    assert callable(agents.get_agent("td3").explore) and callable(agents.get_agent("external").perturbable)
    assert agents.trainable() == ["ppo", "sac", "td3"]


def test_a_declared_optional_member_must_exist(monkeypatch):
    m = types.ModuleType("claims_too_much")
    m.NAME, m.UPDATE_KIND, m.SUITES, m.PROVIDES = "claims", "claims_step", ("brax",), ("explore", "teleport")
    m.Config = agents.AGENTS["td3"].Config
    m.init = m.make_policy = m.policy_params = m.post_update = m.training_setup = lambda *a: None
    with pytest.raises(TypeError, match=r"lacks \['explore'\]"):
        agents.register(m)
    m.explore = lambda *a: None
    with pytest.raises(TypeError, match=r"PROVIDES names \['teleport'\]"):
        agents.register(m)
    assert "claims" not in agents.AGENTS


def test_the_schema_takes_the_trainable_agents_from_the_registry():
    from retland.config import load_schema

    assert load_schema()["properties"]["algos"]["items"]["enum"] == agents.trainable()
