# Paper Fig. 10 (A.4): LTP from buffer start states against their collection time.
from retland.runtime import log_to
from retland.jobs.start_states import fig10_job

with log_to(snakemake.log[0]):
    o = snakemake.output
    fig10_job(ltp_csv=snakemake.input.csv, env=snakemake.wildcards.env, out_png=o.png, out_pdf=o.pdf,
              dpi=snakemake.params.dpi)
