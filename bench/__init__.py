"""Benchmarks: each prints `figure: value` lines and writes bench/results/<name>.json."""
