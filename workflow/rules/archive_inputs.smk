# Inputs of the archive rule (archive.smk); functions only, like common.smk.
ARCHIVE = {"include_checkpoints": False, **(config.get("archive") or {})}


# the tables of the experiments that study Brax tasks (E6-E9, claims): a config without
# Brax tasks (the appendix) makes none of them
_BRAX_TABLE_RULES = {"below_threshold_stats", "rejection_stats", "cvar_ranking", "claims"}


def stats_tables(wildcards):
    """Every wildcard-free CSV that a rule of this config's experiments writes under
    results/{run}/stats/."""
    return sorted(
        {
            str(f)
            for r in workflow.rules
            if BRAX_ENVS or r.name not in _BRAX_TABLE_RULES
            for f in r.output
            if not f.contains_wildcard() and str(f).startswith(f"{RES}/stats/") and str(f).endswith(".csv")
        }
    )


def archived_checkpoints(wildcards):
    """The training files, only when config archive.include_checkpoints asks for them."""
    if not ARCHIVE["include_checkpoints"]:
        return []
    return all_train_files()
