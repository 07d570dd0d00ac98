"""The application shell: configuration, gathering facts, running a reconcile, doctor, metrics."""
