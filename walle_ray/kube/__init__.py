"""Walle on Kubernetes: KubeRay manifests and the client that manages them."""
