"""``make bench``: round trips, wall time, memory, history events and the AWS cost model of the batch task."""
