# Artifact archive of the run (`make archive`): statistics, post-update distributions,
# figures, the resolved config, pip freeze, git commit, platform and a sha256 manifest in
# results/{run}/{run}-artifact.tar.gz. An explicit target, not part of `rule all`;
# `python -m retland.archive verify FILE` (`make verify-archive`) re-checks it.


include: "archive_inputs.smk"


rule archive:
    input:
        figures=all_figures(),
        stats=stats_tables,
        post_update=post_update_files(),
        train=archived_checkpoints,
    output:
        tar=f"{RES}/{RUN}-artifact.tar.gz",
    params:
        # a name, not a path prefix: a function, so --lint does not take run "paper" for a
        # hard-coded prefix of paper_figures/
        run=lambda wildcards: RUN,
        include_checkpoints=ARCHIVE["include_checkpoints"],
        config=canon(config),
        repo=workflow.basedir,
    log:
        f"{RES}/logs/archive.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/archive.py"
