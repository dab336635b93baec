"""Models, data, training, checkpoints and pictures for the GAN toolkit."""
