# torch_ref.py -- the PyTorch side of `make bench`: the same workloads as bench/run.lua,
# timed the same way, one sample each.
#
# usage: /usr/bin/python3 bench/torch_ref.py --threads N NAME[:WARMUP:CALLS] ...
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


# ---- issue 8: training steps and diagnostics, written as a PyTorch user would

def mlp(sizes):
    """nn.Sequential of Linear layers with ReLU between them (default init)."""
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def mlp_setup(sizes, batch, loss):
    """The net, a batch (labels 0..C-1 for cross-entropy, N(0, 1) targets for mse), SGD."""
    torch.manual_seed(1)
    net = mlp(sizes)
    x = randn(batch, sizes[0])
    if loss == "mse":
        y, loss_fn = randn(batch, sizes[-1]), torch.nn.functional.mse_loss
    else:
        y = torch.randint(0, sizes[-1], (batch,), generator=torch.Generator().manual_seed(2))
        loss_fn = torch.nn.functional.cross_entropy
    return net, x, y, torch.optim.SGD(net.parameters(), lr=0.01), loss_fn


def mlp_step(sizes, batch, loss):
    def setup():
        net, x, y, opt, loss_fn = mlp_setup(sizes, batch, loss)

        def run(n):
            for _ in range(n):
                l = loss_fn(net(x), y)
                opt.zero_grad()
                l.backward()
                opt.step()
        return run
    return setup


TINY, MID, WIDE = (10, 32, 32, 1), (784, 256, 256, 10), (784, 1024, 1024, 10)
workload("mlp_tiny_step")(mlp_step(TINY, 16, "mse"))
workload("mlp_mid_step")(mlp_step(MID, 128, "cross_entropy"))
workload("mlp_wide_step")(mlp_step(WIDE, 256, "cross_entropy"))


FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
_fmnist = None


def fashion_mnist_train():
    """X (60000 x 784 in [0, 1], float64), labels 0..9, from the IDX files (gzip + numpy)."""
    global _fmnist
    if _fmnist is None:
        import gzip
        import numpy as np
        with gzip.open(FASHION_MNIST + "/train-images-idx3-ubyte.gz") as f:
            images = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
        with gzip.open(FASHION_MNIST + "/train-labels-idx1-ubyte.gz") as f:
            labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
        x = torch.from_numpy(images.reshape(-1, 784).astype(np.float64) / 255)
        _fmnist = x, torch.from_numpy(labels.astype(np.int64))
    return _fmnist


@workload("fmnist_epoch")
def fmnist_epoch():
    # batches by randperm and indexing (faster than a DataLoader over a TensorDataset, which
    # collates sample by sample); the setup warms up with 20 steps, as run.lua's
    x, y = fashion_mnist_train()
    torch.manual_seed(1)
    net = mlp((784, 256, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(1)

    def train(steps):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, min(len(x), steps * 128), 128):
            idx = perm[i:i + 128]
            l = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            l.backward()
            opt.step()

    train(20)

    def run(n):
        for _ in range(n):
            train(len(x))
    return run


def lanczos_top(hvp, n, m, g):
    """Largest eigenvalue after m Lanczos steps (m HVPs) with full reorthogonalisation (twice
    classical Gram-Schmidt), as entro's diag.sharpness."""
    Q = torch.zeros(m, n)
    q = torch.randn(n, generator=g)
    Q[0] = q / q.norm()
    alpha, beta = [], []
    for j in range(m):
        w = hvp(Q[j])
        a = torch.dot(w, Q[j]).item()
        alpha.append(a)
        w -= a * Q[j]
        if j > 0:
            w -= beta[j - 1] * Q[j - 1]
        for _ in range(2):
            basis = Q[:j + 1]
            w -= basis.t() @ (basis @ w)
        b = w.norm().item()
        beta.append(b)
        if j + 1 < m:
            Q[j + 1] = w / b
    T = torch.diag(torch.tensor(alpha))
    off = torch.tensor(beta[:-1])
    T += torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigvalsh(T)[-1].item()


def sharpness(net, x, y, maxiter, g):
    """PyHessian's way: the gradient once with create_graph, then each HVP is
    autograd.grad(grads, params, grad_outputs=v, retain_graph=True)."""
    params = [p for p in net.parameters()]
    loss = torch.nn.functional.cross_entropy(net(x), y)
    grads = torch.autograd.grad(loss, params, create_graph=True)
    sizes = [p.numel() for p in params]

    def hvp(v):
        vs = [part.view_as(p) for part, p in zip(torch.split(v, sizes), params)]
        hv = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv])
    return lanczos_top(hvp, sum(sizes), maxiter, g)


@workload("hessian_top")
def hessian_top():
    net, x, y, _, _ = mlp_setup(MID, 1024, "cross_entropy")
    g = torch.Generator().manual_seed(2)
    sharpness(net, x, y, 2, g)

    def run(n):
        for _ in range(n):
            sharpness(net, x, y, 20, g)
    return run


@workload("cka_2048x256")
def cka_2048x256():
    import numpy as np
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((2048, 256)), rng.standard_normal((2048, 256))

    def cka(X, Y):
        X = X - X.mean(axis=0)
        Y = Y - Y.mean(axis=0)
        return (np.linalg.norm(Y.T @ X) ** 2
                / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)))

    def run(n):
        for _ in range(n):
            cka(X, Y)
    return run


@workload("mknn_1024x256")
def mknn_1024x256():
    X, Y, k = randn(1024, 256), torch.randn(1024, 256), 10

    def neighbours(A):
        A = A / A.norm(dim=1, keepdim=True)
        S = A @ A.t()
        S.fill_diagonal_(float("-inf"))
        return torch.topk(S, k, dim=1).indices

    def mutual_knn(X, Y):
        n = X.shape[0]
        mx = torch.zeros(n, n, dtype=torch.bool).scatter_(1, neighbours(X), True)
        my = torch.zeros(n, n, dtype=torch.bool).scatter_(1, neighbours(Y), True)
        return (mx & my).sum().item() / (n * k)

    def run(n):
        for _ in range(n):
            mutual_knn(X, Y)
    return run


# ---- timing (the protocol of run.lua and cref.c)

def timed(run, n):
    t0 = time.perf_counter()
    run(n)
    return time.perf_counter() - t0


def sample(run, warmup=1, calls=0):
    """Warm up (warmup calls, then, unless calls fixes the count, doubling the call count
    until it lasts MIN_TIME), then time."""
    if warmup > 0:
        run(warmup)
    n = calls or 1
    while not calls and timed(run, n) < MIN_TIME:
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
    # NAME or NAME:WARMUP:CALLS (run.lua's warm-up calls and fixed call count, 0 = doubling)
    jobs = []
    for a in argv:
        name, *opts = a.split(":")
        jobs.append((name, *(int(o) for o in opts)))
    unknown = [j[0] for j in jobs if j[0] not in WORKLOADS]
    if unknown:
        print("torch_ref.py: unknown workloads: " + " ".join(unknown), file=sys.stderr)
        return 2
    core, blas_threads = openblas_core()
    print(f"info torch_version {torch.__version__}")
    print(f"info torch_threads {torch.get_num_threads()}")
    print(f"info openblas_core {core}")
    print(f"info openblas_threads {blas_threads}")
    for name, *opts in jobs:
        seconds, n = sample(WORKLOADS[name](), *opts)
        print(f"time {name} {seconds:.9g} {n}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
