"""Training domain: model registry, dataset snapshots, jobs (models arrive with the training issue)."""
