# The three claims of paper Sec. 4, checked on this run's tables (claims.md + claims.csv).
from retland.jobs import log_to
from retland.jobs_navigation import claims_job

with log_to(snakemake.log[0]):
    claims_job(snakemake.input.stats, snakemake.input.btp, snakemake.input.ltp, snakemake.params.claims,
               snakemake.params.stats, snakemake.params.algo, snakemake.output.md, snakemake.output.csv)
