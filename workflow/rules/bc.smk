# E12 (paper A.7, Fig. 22 and its table): behaviour cloning of TD3 policies. For each TD3 run
# of bc.seeds, bc.teachers_per_run of its checkpoints are cloned (bc_train: one job per run,
# students vmapped); the students' post-update distributions are E2's estimator with the BC
# post-update (one more BC step); bc_stats pairs teachers (E2's TD3 files) with students.
# a change to these re-trains the students (post-update keys are the post-update's)
BC_TRAIN_KEYS = ("total_steps", "checkpoints", "learning_rate", "dropout", "batch_size", "max_chunk_steps", "seed")


if BC:

    rule bc_train:
        # E12 / A.7: students of every teacher of one TD3 run, trained on the run's log
        # relabelled with the teacher's actions
        input:
            teacher=f"{RES}/train/{{env}}/td3/seed{{seed}}.h5",
        output:
            h5=bc_student_files("{env}", "{seed}"),
        params:
            teacher_steps=BC_TEACHERS,
            bc=canon({k: BC[k] for k in BC_TRAIN_KEYS}),
        log:
            f"{RES}/logs/bc_train/{{env}}/seed{{seed}}.log",
        threads: 2
        priority: PRIORITY["bc"]
        resources:
            **gpu_resources("train"),
            resume_every_s=RESUME_EVERY_S,
        conda:
            JAX_ENV
        script:
            "../scripts/bc_train.py"

    rule bc_post_update:
        # E12 / A.7: post-update distributions of every student of one TD3 run (one more BC
        # gradient step per sample, rolled out from s_I exactly as E2)
        input:
            h5=lambda wc: bc_student_files(wc.env, wc.seed),
        output:
            h5=bc_post_update_files("{env}", "{seed}"),
        params:
            steps=BC_STEPS,
            post_update=canon({**{k: config["post_update"][k] for k in ("horizon", "chunk_size", "sample_seed")},
                               "n_samples": BC["n_samples"]}),
        log:
            f"{RES}/logs/bc_post_update/{{env}}/seed{{seed}}.log",
        threads: 2
        priority: PRIORITY["bc"]
        resources:
            **gpu_resources("post_update"),
        conda:
            JAX_ENV
        script:
            "../scripts/bc_post_update.py"

    rule bc_stats:
        # Fig. 22 tables: (teacher, student) pairs, the A.7 correlation table, mean LTP of
        # TD3 teachers and BC students with rliable CIs
        input:
            teachers=[f"{RES}/post_update/{e}/td3/seed{s}/step{k}.h5" for e in BRAX_ENVS for s in BC_SEEDS for k in BC_TEACHERS],
            students=[f for e in BRAX_ENVS for s in BC_SEEDS for f in bc_post_update_files(e, s)],
        output:
            pairs=f"{RES}/stats/bc_pairs.csv",
            corr=f"{RES}/stats/bc_correlations.csv",
            corr_md=report(f"{RES}/stats/bc_correlations.md", caption="../report/fig22_bc.rst", category="E12 behaviour cloning"),
            ltp=f"{RES}/stats/bc_ltp.csv",
        params:
            stats=canon(config["stats"]),
        log:
            f"{RES}/logs/stats/bc.log",
        localrule: True
        conda:
            ANALYSIS_ENV
        script:
            "../scripts/bc_stats.py"

    rule fig22_bc:
        # Paper Fig. 22: left, teacher vs student mean and LTP per env; right, mean LTP of
        # TD3 and BC with rliable 95% CIs
        input:
            pairs=f"{RES}/stats/bc_pairs.csv",
            corr=f"{RES}/stats/bc_correlations.csv",
            ltp=f"{RES}/stats/bc_ltp.csv",
        output:
            pairs_png=report(f"{FIGS}/fig22_bc_pairs.png", caption="../report/fig22_bc.rst", category="E12 behaviour cloning"),
            pairs_pdf=f"{FIGS}/fig22_bc_pairs.pdf",
            ltp_png=report(f"{FIGS}/fig22_bc_ltp.png", caption="../report/fig22_bc.rst", category="E12 behaviour cloning"),
            ltp_pdf=f"{FIGS}/fig22_bc_ltp.pdf",
        params:
            dpi=DPI,
        log:
            f"{RES}/logs/figures/fig22_bc.log",
        localrule: True
        conda:
            ANALYSIS_ENV
        script:
            "../scripts/fig22_bc.py"
