# E1 (paper A.1): train all seeds of one (env, algo), vmapped, one HDF5 file per seed.
from retland.jobs import log_to, train_job

with log_to(snakemake.log[0]):
    p = snakemake.params
    train_job(snakemake.wildcards.env, snakemake.wildcards.algo, p.seeds, p.backend, p.episode_length,
              p.train, p.agent, list(snakemake.output.h5), config_record=dict(snakemake.config),
              env_kwargs=p.env_kwargs,
              # not a param: the resume frequency never changes results, so it must not trigger re-runs
              resume_every_minutes=snakemake.config["train"].get("resume_every_minutes", 10))
