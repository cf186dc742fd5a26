"""``python -m rlkit.clusters``: where the shipped cluster configs are installed."""

from rlkit.clusters import CLUSTERS_DIR, FILES

for name in FILES:
    print(CLUSTERS_DIR / name)
