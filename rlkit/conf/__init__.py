"""rlkit's Hydra configs, shipped inside the package so an installed rlkit finds them."""
