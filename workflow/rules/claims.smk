# The paper's three claims ((a) Sec. 3.1 / Fig. 2: spread of std, skewness and LTP at similar
# mean over every algorithm's policies; (b) Sec. 4.1 / Fig. 6: same-run paths almost no drop,
# different-run paths more; (c) Sec. 4.2 / Fig. 7: LTP reduction of Algorithm 1 vs TD3 on
# fresh final estimates), each with CIs and "holds / does not hold"
# (results/{run}/stats/claims.md, docs/file-formats.md, "Claims").
rule claims:
    input:
        stats=f"{RES}/stats/post_update.csv",
        btp=f"{RES}/stats/below_threshold.csv",
        ltp=f"{RES}/stats/ltp_reduction_summary.csv",
    output:
        md=f"{RES}/stats/claims.md",
        csv=f"{RES}/stats/claims.csv",
    params:
        claims=canon(config["claims"]),
        stats=canon(config["stats"]),
        algos=ALGOS,
        rejection_algo=config["rejection"]["algo"],
    log:
        f"{RES}/logs/stats/claims.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/claims.py"
