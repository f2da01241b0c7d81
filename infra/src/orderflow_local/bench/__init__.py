"""`make bench`: orderflow's throughput, latency, CPU, AWS calls, cost and cold starts, against a floor."""
