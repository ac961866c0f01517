# Inputs of the archive rule (archive.smk); functions only, like common.smk.
ARCHIVE = {"include_checkpoints": False, **(config.get("archive") or {})}


def stats_tables(wildcards):
    """Every wildcard-free CSV that a rule writes under results/{run}/stats/."""
    return sorted(
        {
            str(f)
            for r in workflow.rules
            for f in r.output
            if not f.contains_wildcard() and str(f).startswith(f"{RES}/stats/") and str(f).endswith(".csv")
        }
    )


def archived_checkpoints(wildcards):
    """The training files, only when config archive.include_checkpoints asks for them."""
    if not ARCHIVE["include_checkpoints"]:
        return []
    return all_train_files()
