"""One thread per process by default: on a shared 2-core machine torch with two threads ran
10-30x slower than with one for small networks (see shared/reference/stack.md)."""

import os

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads_in_environment(threads: int = 1) -> None:
    """Set the BLAS/OpenMP thread variables (before torch is imported) unless the user set them;
    subprocess envs inherit them."""
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))


def limit_torch_threads(threads: int) -> None:
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def one_thread_worker() -> None:
    """A worker process's initializer: one thread for BLAS/OpenMP and for torch."""
    limit_threads_in_environment(1)
    limit_torch_threads(1)
