# Statistics of every post-update distribution (DESIGN.md "Statistics"; Fig. 2 inputs),
# and the learning curves as a table (so figures never read training files).
rule post_update_stats:
    input:
        h5=post_update_files(),
    output:
        csv=f"{RES}/stats/post_update.csv",
    params:
        stats=canon(config["stats"]),
    log:
        f"{RES}/logs/stats/post_update.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/post_update_stats.py"


rule learning_curves:
    input:
        h5=[f for e in config["envs"] for a in config["algos"] for f in train_files(e, a)],
    output:
        csv=f"{RES}/stats/learning_curves.csv",
    log:
        f"{RES}/logs/stats/learning_curves.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/learning_curves.py"
