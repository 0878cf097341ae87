"""Demo data: a small pairwise project with users and simulated judgments."""
