# E12 (paper A.7, Fig. 22 and its table): teacher/student pairs, correlations, mean LTP.
from retland.runtime import log_to
from retland.jobs.bc import bc_stats_job

with log_to(snakemake.log[0]):
    o = snakemake.output
    bc_stats_job(teacher_paths=list(snakemake.input.teachers), student_paths=list(snakemake.input.students),
                 stats=snakemake.params.stats, out_pairs=o.pairs, out_corr=o.corr, out_corr_md=o.corr_md,
                 out_ltp=o.ltp, config_record=dict(snakemake.config))
