# E2 (paper Sec. 3.1, Fig. 2, 11-13): post-update return distributions of every checkpoint
# of one training run (one job per training file: the estimator is traced once per job).
# One rule per algorithm (post_update_td3, post_update_sac, post_update_ppo): each has its
# own checkpoint schedule (train.<algo>), and a rule's outputs are fixed patterns.
for _algo in config["algos"]:

    rule:
        name:
            f"post_update_{_algo}"
        input:
            train=f"{RES}/train/{{env}}/{_algo}/seed{{seed}}.h5",
        output:
            h5=[f"{RES}/post_update/{{env}}/{_algo}/seed{{seed}}/step{k}.h5" for k in algo_steps(_algo)],
        params:
            steps=algo_steps(_algo),
            post_update=canon(config["post_update"]),
        log:
            f"{RES}/logs/post_update/{{env}}/{_algo}/seed{{seed}}.log",
        threads: 2
        resources:
            **gpu_resources("post_update"),
        conda:
            JAX_ENV
        script:
            "../scripts/post_update.py"
