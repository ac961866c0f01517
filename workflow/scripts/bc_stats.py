# E12 (paper A.7, Fig. 22 and its table): teacher/student pairs, correlations, mean LTP.
from retland.jobs import log_to
from retland.jobs_bc import bc_stats_job

with log_to(snakemake.log[0]):
    o = snakemake.output
    bc_stats_job(list(snakemake.input.teachers), list(snakemake.input.students), snakemake.params.stats,
                 o.pairs, o.corr, o.corr_md, o.ltp, config_record=dict(snakemake.config))
