"""The agent registry (retland.agents): every declared agent's implementation provides the
protocol; a module that lacks a member is refused naming what it lacks, and nothing
half-registered is left behind; which agents run in which suites."""

import types

import pytest

from retland import agents


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
