# E2 (paper Sec. 3.1, Fig. 2): post-update return distributions of every checkpoint of
# one training run (one job per training file: the estimator is traced once per job).
rule post_update:
    input:
        train=f"{RES}/train/{{env}}/{{algo}}/seed{{seed}}.h5",
    output:
        h5=[f"{RES}/post_update/{{env}}/{{algo}}/seed{{seed}}/step{k}.h5" for k in STEPS],
    params:
        steps=STEPS,
        post_update=canon(config["post_update"]),
    log:
        f"{RES}/logs/post_update/{{env}}/{{algo}}/seed{{seed}}.log",
    threads: 2
    resources:
        **gpu_resources("post_update"),
    conda:
        JAX_ENV
    script:
        "../scripts/post_update.py"
