"""llmwarm benchmarks: run with ``python -m benchmarks``."""
