# E5 (paper A.4, Fig. 10): LTP from replay-buffer start states.
from retland.runtime import log_to
from retland.jobs.start_states import start_states_job

with log_to(snakemake.log[0]):
    p = snakemake.params
    start_states_job(env=snakemake.wildcards.env, algo=snakemake.params.algo, train_paths=dict(zip(p.seeds, snakemake.input.train)),
                     start_states=p.start_states, post_update=p.post_update, out_csv=snakemake.output.csv,
                     config_record=dict(snakemake.config))
