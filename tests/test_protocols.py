"""The agent and suite protocols are checked when a module or adapter is registered: what
is missing is named, nothing half-registered is left behind."""

import types

import pytest

from retland import agents
from retland.base import brax_env, envs


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


def test_suite_missing_members_is_refused_naming_them():
    class Half:
        suite = "half"

        def reset(self, key):
            return key

    with pytest.raises(TypeError, match=r"lacks \['reference_state', 'step', 'obs', 'reward', 'done'\]"):
        envs.register_suite(Half)
    assert "half" not in envs.SUITES and envs.SUITES["brax"] is brax_env.BraxEnv


def test_host_stepped_suite_is_checked_against_its_own_protocol():
    class Host:
        suite = "host_half"
        host_stepped = True

        def reference_state(self):
            return None

    with pytest.raises(TypeError, match=r"lacks \['host_env_factory'\] \(see retland.base.suites.HostSuite\)"):
        envs.register_suite(Host)
    assert "host_half" not in envs.SUITES
    assert envs.SUITES["dmc"].host_stepped and callable(envs.SUITES["dmc"].host_env_factory)


def test_suites_of_names_and_agents_that_run_in_them():
    assert envs.suite_of("hopper") == "brax" and envs.suite_of("humanoid-run") == "dmc"
    with pytest.raises(ValueError, match="unknown environment 'tetris'"):
        envs.suite_of("tetris")
    assert agents.runs_in("td3", "quadruped-walk") and agents.runs_in("sac", "humanoid-stand")
    assert not agents.runs_in("ppo", "quadruped-walk") and agents.runs_in("ppo", "hopper")
