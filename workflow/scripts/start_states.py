# E5 (paper A.4, Fig. 10): LTP of TD3 post-update distributions from replay-buffer start states.
from retland.jobs import log_to
from retland.jobs_geometry import start_states_job

with log_to(snakemake.log[0]):
    p = snakemake.params
    start_states_job(snakemake.wildcards.env, "td3", dict(zip(p.seeds, snakemake.input.train)),
                     p.start_states, p.post_update, snakemake.output.csv, config_record=dict(snakemake.config))
