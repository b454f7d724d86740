"""Running a plan: batches, timeouts, the events listeners hear, the run report."""
