"""Job entry points: one module per experiment (``jobs.<experiment>``), each job one rule's
work: read its inputs, call the science (``retland.analyses``), write its outputs atomically
with provenance. The workflow script of a rule (``workflow/scripts/<rule>.py``) calls exactly
one job inside ``retland.runtime.log_to(snakemake.log[0])``.

What every job shares lives beside it: :mod:`retland.runtime` (logging, XLA flags, JAX
set-up, frames) and :mod:`retland.jobs.sources` (training files opened for analysis, the
post-update sample keys). This package imports nothing: JAX is imported only by the jobs
that simulate, when they run.

Job arguments, one convention for every job (and the scripts that call them):

* keyword-only: every job is ``def <name>_job(*, ...)``, called with keyword arguments;
* ``env``: the environment (task) name, the rule's ``{env}`` wildcard; ``algo``, ``seed``,
  ``seeds``, ``steps`` likewise;
* a config section is passed whole under the section's own name (``train``,
  ``post_update``, ``landscape``, ``failures``, ``start_states``, ``interpolation``,
  ``rejection``, ``atari``, ``claims``, ``stats``, ``bc``, ``render``), as the rule's param
  of that name;
* inputs are named for what they hold: ``<content>_csv`` / ``<content>_h5`` for one file,
  ``train_path`` / ``train_paths`` for training files, ``<content>_paths`` for a list of
  files, ``<content>_pattern`` for a path pattern with ``{algo}``, ``{seed}``, ``{step}``
  (``{env}``) fields;
* every output is its own argument ``out_<name>``, ``<name>`` the rule's output name
  (``snakemake.output.<name>``): ``out_csv``, ``out_png``, ``out_pdf``, ``out_hist_png``
  ...; a list where the rule's output is a list (``out_h5``: one file per seed, per
  checkpoint or per student);
* then ``config_record`` (the run's config, for provenance), ``workers`` (the rule's
  threads), ``resume_every_minutes`` and ``dpi`` where a job has them.
"""
