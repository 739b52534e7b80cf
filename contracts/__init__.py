"""Pure core shared by service and workers: shapes, statuses, lifecycle and courier wire formats (no I/O)."""
