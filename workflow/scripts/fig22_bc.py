# Paper Fig. 22 (A.7): behaviour cloning, teacher vs student (left) and mean LTP (right).
from retland.runtime import log_to
from retland.jobs.bc import fig22_job

with log_to(snakemake.log[0]):
    i, o = snakemake.input, snakemake.output
    fig22_job(pairs_csv=i.pairs, corr_csv=i.corr, ltp_csv=i.ltp, out_pairs_png=o.pairs_png,
              out_pairs_pdf=o.pairs_pdf, out_ltp_png=o.ltp_png, out_ltp_pdf=o.ltp_pdf, dpi=snakemake.params.dpi)
