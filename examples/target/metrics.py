"""Hand-written Prometheus metrics: request counters, an in-flight gauge, the start time."""

from __future__ import annotations

import time
from collections import Counter


def _label(value: str) -> str:
    """Escape a label value for the Prometheus text format."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """The target's live figures, rendered by :meth:`render` for ``GET /metrics``."""

    def __init__(self, service: str, version: str) -> None:
        self.service = service
        self.version = version
        self.start_time = time.time()
        self.in_flight = 0
        self.requests: Counter[tuple[str, int]] = Counter()

    def record(self, path: str, status: int) -> None:
        """Count one answered request; ``path`` is the route template, not the raw path."""
        self.requests[(path, status)] += 1

    def render(self) -> str:
        """The whole exposition, in Prometheus text format 0.0.4."""
        lines = [
            "# HELP http_requests_total HTTP requests answered, by route and status.",
            "# TYPE http_requests_total counter",
        ]
        for (path, status), count in sorted(self.requests.items()):
            lines.append(f'http_requests_total{{path="{_label(path)}",status="{status}"}} {count}')
        lines += [
            "# HELP http_requests_in_flight HTTP requests being served right now.",
            "# TYPE http_requests_in_flight gauge",
            f"http_requests_in_flight {self.in_flight}",
            "# HELP process_start_time_seconds Start time of the process since unix epoch.",
            "# TYPE process_start_time_seconds gauge",
            f"process_start_time_seconds {self.start_time:.3f}",
            "# HELP target_info The service and version this process serves.",
            "# TYPE target_info gauge",
            f'target_info{{service="{_label(self.service)}",version="{_label(self.version)}"}} 1',
        ]
        return "\n".join(lines) + "\n"
