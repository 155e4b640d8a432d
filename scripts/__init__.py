"""Demo-data generator, benchmarks and operational helpers."""
