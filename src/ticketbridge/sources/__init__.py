"""Where endpoints come from besides `[[endpoints]]`: DNS zones, octoDNS, Prometheus file_sd,
Kubernetes manifests, and certificates logged in Certificate Transparency; one module per format."""
