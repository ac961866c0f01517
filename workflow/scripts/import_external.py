# Agents trained elsewhere (issue 24): one seed's checkpoint files -> its training file.
from retland.external import import_checkpoints
from retland.runtime import log, log_to, setup_jax

with log_to(snakemake.log[0]):
    setup_jax()
    e = snakemake.params.entry
    import_checkpoints(name=snakemake.wildcards.algo, env=snakemake.wildcards.env, fmt=e["format"], apply=e["apply"],
                       apply_kwargs=e.get("apply_kwargs") or {}, perturb=e.get("perturb", ""),
                       noise_scale=e.get("noise_scale", 3e-4), checkpoints=snakemake.params.checkpoints,
                       seed=int(snakemake.wildcards.seed), out_h5=snakemake.output.h5,
                       backend=snakemake.params.backend, episode_length=snakemake.params.episode_length,
                       env_kwargs=snakemake.params.env_kwargs, config_record=dict(snakemake.config), log=log)
