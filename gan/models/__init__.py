"""What a GAN is to the toolkit: the `Architecture` object, the built-in ones (the seed's MLP and
a DCGAN), and the loader that turns an `--arch` spec into one."""
