"""Silences log lines that are expected on this kind of machine and would only alarm users."""

import logging


def silence_known_noise() -> None:
    # A CUDA build of torch on a machine without a GPU logs "No CUDA runtime is found" on every
    # torch.compile; the CPU path it takes is the right one.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
