"""Evaluation on the six medical VQA benchmarks of the paper: generation backends, the run with its
per-question generations and resume, grading with the shared verifier, result tables and comparisons."""
