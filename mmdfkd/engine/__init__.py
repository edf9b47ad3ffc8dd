"""Training-loop pieces: checkpoint compatibility, hooks, runner helpers."""
