"""The long-running process: the scheduler, signals, and the health and metrics endpoint."""
