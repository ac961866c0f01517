# The three claims of the paper (Sec. 3.1 / Fig. 2, 4.1 / Fig. 6, 4.2 / Fig. 7), checked on this run's tables.
from retland.runtime import log_to
from retland.jobs.claims import claims_job

with log_to(snakemake.log[0]):
    i, p = snakemake.input, snakemake.params
    claims_job(stats_csv=i.stats, btp_csv=i.btp, ltp_summary_csv=i.ltp, claims=p.claims, stats=p.stats,
               algos=p.algos, rejection_algo=p.rejection_algo, out_md=snakemake.output.md,
               out_csv=snakemake.output.csv, config_record=dict(snakemake.config))
