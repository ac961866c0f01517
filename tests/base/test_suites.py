"""The suite registry (retland.base.envs): an adapter is checked against its protocol
(retland.base.suites) when registered; what is missing is named, nothing half-registered is
left behind."""

import pytest

from retland.base import brax_env, envs


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


def test_suites_of_names():
    assert envs.suite_of("hopper") == "brax" and envs.suite_of("humanoid-run") == "dmc"
    with pytest.raises(ValueError, match="unknown environment 'tetris'"):
        envs.suite_of("tetris")
