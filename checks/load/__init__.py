"""The ``load`` check kind: load, stress, soak and spike tests on Locust (run as a
subprocess), with thresholds, live progress, distributed workers and a capacity verdict."""

from checks.load.check import LoadCheck
from checks.load.options import Capacity, LoadOptions, Task, Wait
from checks.load.thresholds import Threshold, parse_threshold

__all__ = ["Capacity", "LoadCheck", "LoadOptions", "Task", "Threshold", "Wait", "parse_threshold"]
