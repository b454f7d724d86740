"""The ``parity`` kind: does the environment mirror production?"""

from checks.parity.check import ParityCheck, ParityOptions

__all__ = ["ParityCheck", "ParityOptions"]
