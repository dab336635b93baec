"""`gan train`: the config, the GAN step (eager or one compiled graph), Adam, the epoch loop and
its run-dir artifacts, torchrun, and the CPU GEMM engine chosen by measurement."""
