"""ViT, data sets and the trainer for the rope-blocks experiments."""
