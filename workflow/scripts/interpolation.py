# E6 + E7 (paper Sec. 4.1, A.3): Tab. 2 pairs, Fig. 5/8 paths and Fig. 6 per-pair BTP of one environment.
from retland.jobs import log_to
from retland.jobs_navigation import interpolation_job

with log_to(snakemake.log[0]):
    o = snakemake.output
    interpolation_job(snakemake.wildcards.env, snakemake.input.stats, list(snakemake.input.train),
                      snakemake.params.interpolation, {"pairs": o.pairs, "paths": o.paths, "btp_pairs": o.btp_pairs},
                      config_record=dict(snakemake.config))
