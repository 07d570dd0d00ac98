"""The pure core: domain values, the decider and the plan. No sockets, files, clock reads or config."""
