"""Discovery adapters: endpoint resolution, TLS and STARTTLS probes, certificate files."""
