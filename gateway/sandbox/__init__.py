"""Local provider servers for the demo, the tests and the benchmarks, with faults scripted by recipient."""
