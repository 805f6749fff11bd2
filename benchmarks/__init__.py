"""Speed and memory benchmarks: plain functions that `rope-blocks bench encodings|train` (commands/bench.py) runs."""
