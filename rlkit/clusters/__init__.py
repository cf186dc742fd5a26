"""Cluster configs shipped with rlkit: ``aws-gpu.yaml`` for ``ray up`` (VM launcher) and the
KubeRay ``raycluster.yaml`` / ``rayjob.yaml`` manifests. ``python -m rlkit.clusters`` prints
where they are installed."""

from pathlib import Path

CLUSTERS_DIR = Path(__file__).parent
FILES = ("aws-gpu.yaml", "raycluster.yaml", "rayjob.yaml")
