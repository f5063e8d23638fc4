# torch_ref.py -- the PyTorch side of `make bench`: the same workloads as bench/run.lua,
# timed the same way, one sample each.
#
# usage: /usr/bin/python3 bench/torch_ref.py --threads N NAME ...
# Prints "info KEY VALUE" lines (versions, threads, the OpenBLAS core this process loaded),
# then for each NAME "time NAME seconds_per_call calls". A workload is a function registered
# under its name that builds its tensors and returns run(n), which does n calls; run.lua has
# an entry of the same name. Float64 throughout, as entro.
import ctypes
import sys
import time

import torch

MIN_TIME = 0.05          # a sample lasts at least this long (as in run.lua and cref.c)
WORKLOADS = {}


def workload(name):
    def register(f):
        WORKLOADS[name] = f
        return f
    return register


def randn(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1))


# ---- matrix product

@workload("matmul_1024")
def matmul_1024():
    a, b, c = randn(1024, 1024), randn(1024, 1024), torch.empty(1024, 1024)

    def run(n):
        for _ in range(n):
            torch.mm(a, b, out=c)
    return run


# ---- elementwise and reductions on contiguous data: a*x + b and sum

A, B = 1.0000001, 1e-9


def elementwise(n, tag):
    @workload(f"mul_add_{tag}")
    def mul_add():
        x = randn(n)

        def run(k):
            for _ in range(k):
                x.mul(A).add(B)
        return run

    @workload(f"mul_add_out_{tag}")
    def mul_add_out():
        x, t, y = randn(n), torch.empty(n), torch.empty(n)

        def run(k):
            for _ in range(k):
                torch.add(torch.mul(x, A, out=t), B, out=y)
        return run

    @workload(f"affine_out_{tag}")
    def affine_out():
        # b + a*x in one kernel: torch.add with alpha and a 0-dim tensor for b
        x, y, b = randn(n), torch.empty(n), torch.tensor(B)

        def run(k):
            for _ in range(k):
                torch.add(b, x, alpha=A, out=y)
        return run

    @workload(f"sum_{tag}")
    def sum_():
        x = randn(n)

        def run(k):
            for _ in range(k):
                x.sum()
        return run


for size, tag in ((10**6, "1e6"), (10**7, "1e7")):
    elementwise(size, tag)


# ---- per-op overhead on a 10-element tensor

@workload("add_out_10")
def add_out_10():
    a, b, c = randn(10), randn(10), torch.empty(10)

    def run(n):
        for _ in range(n):
            torch.add(a, b, out=c)
    return run


@workload("add_alloc_10")
def add_alloc_10():
    a, b = randn(10), randn(10)

    def run(n):
        for _ in range(n):
            torch.add(a, b)
    return run


@workload("sum_10")
def sum_10():
    a = randn(10)

    def run(n):
        for _ in range(n):
            a.sum()
    return run


@workload("get_10")
def get_10():
    a = randn(10)

    def run(n):
        for _ in range(n):
            a[0].item()
    return run


# ---- timing (the protocol of run.lua and cref.c)

def timed(run, n):
    t0 = time.perf_counter()
    run(n)
    return time.perf_counter() - t0


def sample(run):
    """Warm up (one call, then doubling the call count until it lasts MIN_TIME), then time."""
    run(1)
    n = 1
    while timed(run, n) < MIN_TIME:
        n *= 2
    return timed(run, n) / n, n


def openblas_core():
    try:
        lib = ctypes.CDLL("libopenblas.so.0")   # the instance torch already loaded
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode(), lib.openblas_get_num_threads()
    except (OSError, AttributeError):
        return "unknown", -1


def main(argv):
    threads = 2
    if len(argv) >= 2 and argv[0] == "--threads":
        threads, argv = int(argv[1]), argv[2:]
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(threads)
    unknown = [a for a in argv if a not in WORKLOADS]
    if unknown:
        print("torch_ref.py: unknown workloads: " + " ".join(unknown), file=sys.stderr)
        return 2
    core, blas_threads = openblas_core()
    print(f"info torch_version {torch.__version__}")
    print(f"info torch_threads {torch.get_num_threads()}")
    print(f"info openblas_core {core}")
    print(f"info openblas_threads {blas_threads}")
    for name in argv:
        seconds, n = sample(WORKLOADS[name]())
        print(f"time {name} {seconds:.9g} {n}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
