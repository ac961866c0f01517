# Agents trained elsewhere (config `external`; issue 24, docs/your-own-agent.md): one job per
# (agent, seed) converts its checkpoint files into the training file every later stage
# reads (retland import). The checkpoint files are inputs (a changed file re-imports), and
# the train rules never match these names (their `algo` is constrained to `algos`).
rule import_external:
    input:
        checkpoints=lambda wc: list(external_checkpoints(wc.algo, wc.seed).values()),
    output:
        h5=f"{RES}/train/{{env}}/{{algo}}/seed{{seed}}.h5",
    params:
        checkpoints=lambda wc: external_checkpoints(wc.algo, wc.seed),
        entry=lambda wc: canon({k: v for k, v in EXTERNAL[wc.algo].items() if k != "checkpoints"}),
        backend=lambda wc: env_backend(wc.env),
        episode_length=lambda wc: env_settings(wc.env)["episode_length"],
        env_kwargs=lambda wc: canon((config.get("env_kwargs") or {}).get(wc.env, {})),
    log:
        f"{RES}/logs/import/{{env}}/{{algo}}/seed{{seed}}.log",
    wildcard_constraints:
        algo="|".join(EXTERNAL) or "(?!)",
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        JAX_ENV
    script:
        "../scripts/import_external.py"
