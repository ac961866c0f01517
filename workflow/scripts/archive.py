# Artifact archive of the run: results, figures, provenance and sha256 manifest.
from retland.archive import archive_job
from retland.runtime import log_to

with log_to(snakemake.log[0]):
    inputs = {k: list(snakemake.input[k]) for k in ("figures", "stats", "post_update", "train")}
    p = snakemake.params
    archive_job(out=snakemake.output.tar, run=p.run, inputs=inputs, config=p.config,
                include_checkpoints=p.include_checkpoints, repo=p.repo)
