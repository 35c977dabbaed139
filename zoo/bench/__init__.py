"""``zoo bench``: quality and speed across tasks, with no task-specific code.

Task plugins contribute datasets (``register_datasets``) and metrics
(``register_metrics``); suites in ``benchmarks/*.yaml`` say which models run on
which data. Speed is always measured as ratios of contestants run side by side
in one process, interleaved and repeated.
"""

from .harness import BenchConfig, run_bench
from .suite import Suite, load_suite

__all__ = ["BenchConfig", "Suite", "load_suite", "run_bench"]
