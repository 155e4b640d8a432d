"""Leaf scripts: benchmarks, evaluations and the soak; no package imports them."""
