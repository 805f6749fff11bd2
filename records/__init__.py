"""What result files hold and how they are written: provenance, model identity, statistics.

The bottom layer of the project: no torch, importable by the proofs, the trainer, the
benchmarks and the paper alike.
"""
