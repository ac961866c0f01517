# E2 (paper Sec. 3.1, Fig. 2): post-update return distribution of one checkpoint.
rule post_update:
    input:
        train=f"{RES}/train/{{env}}/{{algo}}/seed{{seed}}.h5",
    output:
        h5=f"{RES}/post_update/{{env}}/{{algo}}/seed{{seed}}/step{{step}}.h5",
    params:
        post_update=config["post_update"],
    log:
        f"{RES}/logs/post_update/{{env}}/{{algo}}/seed{{seed}}/step{{step}}.log",
    threads: 2
    resources:
        **gpu_resources("post_update"),
    conda:
        JAX_ENV
    script:
        "../scripts/post_update.py"
