# E1 (paper A.1, Table 1): train every seed of one (env, algo) in one vmapped job.
rule train:
    output:
        h5=train_files("{env}", "{algo}"),
    params:
        seeds=SEEDS,
        backend=config["backend"],
        episode_length=config["episode_length"],
        # the task variant (Brax constructor arguments, config env_kwargs.<env>)
        env_kwargs=lambda wc: canon((config.get("env_kwargs") or {}).get(wc.env, {})),
        # this algorithm's length and checkpoints (train.<algo> overrides train); the resume
        # frequency is left out: how often a resume point is saved never changes results
        train=lambda wc: canon(algo_train(wc.algo)),
        agent=lambda wc: canon(config["agents"].get(wc.algo, {})),
    log:
        f"{RES}/logs/train/{{env}}/{{algo}}.log",
    benchmark:
        f"{RES}/benchmarks/train/{{env}}/{{algo}}.tsv"
    threads: 2
    resources:
        **gpu_resources("train"),
    conda:
        JAX_ENV
    script:
        "../scripts/train.py"
