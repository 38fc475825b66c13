"""Benchmarks of hyperstep's optimizers: quality (Bayesmark-style, synthetic) and latency.

Each benchmark is one command (see ``benchmarks/README.md``) and writes a markdown table
and a JSON file into ``benchmarks/results/``. Nothing here is imported by the library.
This package imports nothing heavy at import time, so ``latency`` can pin thread counts
before numpy loads.
"""
