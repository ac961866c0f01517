# Paper Fig. 7 (LTP reduction with and without rejection) and Fig. 26 (rejection frequency).
from retland.runtime import log_to
from retland.jobs.rejection import fig07_fig26_job

with log_to(snakemake.log[0]):
    o = snakemake.output
    fig07_fig26_job(ltp_summary_csv=snakemake.input.ltp, rejection_csv=snakemake.input.rejection,
                    out_ltp_png=o.ltp_png, out_ltp_pdf=o.ltp_pdf, out_freq_png=o.freq_png, out_freq_pdf=o.freq_pdf,
                    dpi=snakemake.params.dpi)
