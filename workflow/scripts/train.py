# E1 (paper A.1): train all seeds of one (env, algo), vmapped, one HDF5 file per seed.
from retland.runtime import log_to
from retland.jobs.train import train_job

with log_to(snakemake.log[0]):
    p, wc = snakemake.params, snakemake.wildcards
    train_job(env=wc.env, algo=wc.algo, seeds=p.seeds, backend=p.backend, episode_length=p.episode_length,
              train=p.train, agent_overrides=p.agent, env_kwargs=p.env_kwargs, out_h5=list(snakemake.output.h5),
              resume_every_minutes=snakemake.resources.resume_every_s / 60.0, config_record=dict(snakemake.config))
