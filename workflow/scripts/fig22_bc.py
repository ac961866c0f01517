# Paper Fig. 22 (A.7): behaviour cloning, teacher vs student (left) and mean LTP (right).
from retland.jobs import log_to
from retland.jobs_bc import fig22_job

with log_to(snakemake.log[0]):
    i, o = snakemake.input, snakemake.output
    fig22_job(i.pairs, i.corr, i.ltp, o.pairs_png, o.pairs_pdf, o.ltp_png, o.ltp_pdf, dpi=snakemake.params.dpi)
