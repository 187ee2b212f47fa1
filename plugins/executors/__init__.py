"""Built-in sweep executors: ``local`` (process pool), ``ray`` and ``slurm`` (submitit)."""
