# The paper's three claims ((a) Sec. 3.1 spread at similar mean, (b) Sec. 4.1 same- vs
# different-run BTP, (c) Sec. 4.2 LTP reduction of Algorithm 1 vs TD3), each with CIs and
# "holds / does not hold" (results/{run}/stats/claims.md, README "Claims").
rule claims:
    input:
        stats=f"{RES}/stats/post_update.csv",
        btp=f"{RES}/stats/below_threshold_summary.csv",
        ltp=f"{RES}/stats/ltp_reduction_summary.csv",
    output:
        md=f"{RES}/stats/claims.md",
        csv=f"{RES}/stats/claims.csv",
    params:
        claims=canon(config["claims"]),
        stats=canon(config["stats"]),
        algo=config["interpolation"]["algo"],
    log:
        f"{RES}/logs/stats/claims.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/claims.py"
