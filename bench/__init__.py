"""Benchmarks: data generators and the scripts that time the API against them."""
