"""Training (E1, paper A.1): the one driver and the loops it runs.

* :mod:`~retland.training.driver`: :func:`drive` (chunks, training files, checkpoints,
  resume points, abort, progress), the :class:`TrainingLoop` protocol and
  :class:`LoopBase`, :class:`Schedule`, :class:`Setup` and :func:`train`, which trains any
  agent through its ``training_setup``;
* :mod:`~retland.training.offpolicy`: TD3/SAC (:class:`OffPolicyAgent` ->
  :func:`offpolicy_setup`: the jitted chunk, or the host loop of a host-stepped suite);
* :mod:`~retland.training.onpolicy`: PPO (:class:`OnPolicyLoop`, :class:`HostOnPolicyLoop`);
* :mod:`~retland.training.offline`: behaviour cloning on a fixed log (:class:`OfflineLoop`).

Agents hand these loops their functions; nothing here imports an agent.
"""

from .driver import (LoopBase, Schedule, Setup, TrainingLoop, check_schedule, choose_chunk, drive, format_eta,
                     load_resume, partial_path, resume_path, run_fingerprint, save_resume, train)
from .offline import OfflineCarry, OfflineLoop, make_offline_chunk
from .offpolicy import (HostCarry, HostOffPolicyLoop, HostState, OffPolicyAgent, OffPolicyCarry, OffPolicyLoop,
                        init_offpolicy_carry, make_offpolicy_chunk, make_offpolicy_host_step, offpolicy_setup,
                        rebuild_replay)
from .onpolicy import (HostOnPolicyCarry, HostOnPolicyLoop, HostOnPolicyState, OnPolicyCarry, OnPolicyLoop,
                       make_onpolicy_chunk)

__all__ = [
    "LoopBase", "Schedule", "Setup", "TrainingLoop", "check_schedule", "choose_chunk", "drive", "format_eta",
    "load_resume", "partial_path", "resume_path", "run_fingerprint", "save_resume", "train",
    "OfflineCarry", "OfflineLoop", "make_offline_chunk",
    "HostCarry", "HostOffPolicyLoop", "HostState", "OffPolicyAgent", "OffPolicyCarry", "OffPolicyLoop",
    "init_offpolicy_carry", "make_offpolicy_chunk", "make_offpolicy_host_step", "offpolicy_setup", "rebuild_replay",
    "HostOnPolicyCarry", "HostOnPolicyLoop", "HostOnPolicyState", "OnPolicyCarry", "OnPolicyLoop",
    "make_onpolicy_chunk",
]
