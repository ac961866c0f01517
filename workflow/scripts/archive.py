# Artifact archive of the run: results, figures, provenance and sha256 manifest.
from retland.archive import archive_job
from retland.jobs import log_to

with log_to(snakemake.log[0]):
    inputs = {k: list(snakemake.input[k]) for k in ("figures", "stats", "post_update", "train")}
    archive_job(snakemake.output.tar, snakemake.params.run, inputs, snakemake.params.config,
                snakemake.params.include_checkpoints, repo=snakemake.params.repo)
