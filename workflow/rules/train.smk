# E1 (paper A.1, Table 1): train every seed of one (env, algo) in one vmapped job; the
# learning curves as a table, and their figure. One rule per seed list (common.smk
# seed_groups: `train` for the tasks with the config's seeds; `train_atari`, `train_dmc` for a
# suite with its own suites.<suite>.seeds), since a rule's outputs are fixed patterns. Like
# every simulating rule it asks for 2 threads; `make run` caps all jobs at 1 (Makefile
# LOCAL_THREADS), so no list of these rule names is kept.
for _name, (_envs, _seeds) in seed_groups().items():

    rule:
        name:
            _name
        output:
            h5=[f"{RES}/train/{{env}}/{{algo}}/seed{s}.h5" for s in _seeds],
        params:
            seeds=list(_seeds),
            backend=lambda wc: env_backend(wc.env),
            episode_length=lambda wc: env_settings(wc.env)["episode_length"],
            # the task variant (Brax constructor arguments, config env_kwargs.<env>)
            env_kwargs=lambda wc: canon((config.get("env_kwargs") or {}).get(wc.env, {})),
            # this algorithm's length and checkpoints (train.<algo> overrides train; the task's
            # suites.<suite>.train both)
            train=lambda wc: canon(algo_train(wc.algo, wc.env)),
            # hyperparameters: the agent's defaults for the suite under agents.<algo>
            # (suites.<suite>.agents.<algo> where given)
            agent=lambda wc: canon(agent_overrides(config, wc.algo, wc.env)),
        log:
            f"{RES}/logs/train/{{env}}/{{algo}}.log",
        benchmark:
            f"{RES}/benchmarks/train/{{env}}/{{algo}}.tsv"
        wildcard_constraints:
            env="|".join(_envs),
            algo="|".join(config["algos"]) or "(?!)",  # never an external agent's name (external.smk)
        threads: 2
        priority: PRIORITY["train"]
        resources:
            **gpu_resources("train"),
            # a resource, not a param: how often a resume point is saved never changes results,
            # so it must not trigger re-runs (seconds; 0 = after every chunk)
            resume_every_s=RESUME_EVERY_S,
        conda:
            JAX_ENV
        script:
            "../scripts/train.py"


rule learning_curves:
    input:
        h5=all_train_files(),
    output:
        csv=f"{RES}/stats/learning_curves.csv",
    log:
        f"{RES}/logs/stats/learning_curves.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/learning_curves.py"


rule extra_learning_curves:
    input:
        csv=f"{RES}/stats/learning_curves.csv",
    output:
        png=report(f"{FIGS}/extra_learning_curves.png", caption="../report/extra_learning_curves.rst", category="E1 training"),
        pdf=f"{FIGS}/extra_learning_curves.pdf",
    params:
        dpi=DPI,
    log:
        f"{RES}/logs/figures/extra_learning_curves.log",
    localrule: True
    conda:
        ANALYSIS_ENV
    script:
        "../scripts/extra_learning_curves.py"
