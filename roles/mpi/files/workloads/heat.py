#!/usr/bin/python3
"""heat: a long-running, deterministic MPI job for the fault-tolerance tests.

    mpirun -np N python3 heat.py [--size N] [--steps S] [--every K]
                                 [--sleep SECONDS] [--result FILE] [--ballast MB]

Jacobi iterations of the 2-D heat equation on an N x N grid with fixed
boundary values.  The rows are split in blocks over the ranks; every step
each rank swaps its first and last rows with its neighbours (MPI Sendrecv,
real point-to-point traffic), then updates its block.

Every K steps (and after the last one) rank 0 prints

    step <i> checksum <float.hex() of the sum of the grid>

The checksum is deterministic: each grid value is computed by the same
operations whatever the number of ranks, every rank sums its rows one by one,
and rank 0 adds all the row sums with math.fsum (exactly rounded, so the
order does not matter).  Runs with the same --size/--steps therefore print the
same checksums, also after a checkpoint/restore, and also with another
number of ranks.  The result file holds the same lines plus a last line
``final checksum <hex>``, and nothing else (no timings, no rank count):
two result files of the same job compare byte for byte.  Timings go to
standard output only.  --sleep adds a pause to every step to stretch the
wall time without changing any result.
"""

import argparse
import math
import sys
import time

import numpy as np

# Defaults: 3,000 steps of a 2048 x 2048 grid last about 30-45 s with 4 ranks
# on 2 cores (10-15 ms a step, shared memory or TCP, depending on the load);
# each rank holds two 514 x 2050 blocks of doubles, ~16 MB.
DEFAULT_SIZE = 2048
DEFAULT_STEPS = 3000
DEFAULT_EVERY = 100


def parse(argv):
    parser = argparse.ArgumentParser(prog="heat.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="grid points per side (default %(default)s)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="Jacobi steps (default %(default)s)")
    parser.add_argument("--every", type=int, default=DEFAULT_EVERY,
                        help="print a checksum every this many steps (default %(default)s)")
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds to sleep after every step")
    parser.add_argument("--result", metavar="FILE", help="write the checksum lines to FILE")
    parser.add_argument("--ballast", type=int, default=0, metavar="MB",
                        help="extra memory every rank holds (and a checkpoint saves); no effect on the result")
    args = parser.parse_args(argv)
    for name, minimum in (("size", 4), ("steps", 1), ("every", 1)):
        if getattr(args, name) < minimum:
            parser.exit(2, "heat.py: --%s must be at least %d, not %d\n" % (name, minimum, getattr(args, name)))
    if args.sleep < 0:
        parser.exit(2, "heat.py: --sleep must not be negative\n")
    if args.ballast < 0:
        parser.exit(2, "heat.py: --ballast must not be negative\n")
    return args


def initial_block(n, lo, hi):
    """Rows lo .. hi-1 of the initial grid (n x n interior), with a halo row
    above and below and the boundary columns: shape (hi - lo + 2, n + 2).

    Boundary: the top edge is hot (1.0), the left edge a linear ramp, the
    rest cold; the interior starts with a warm square in the middle."""
    rows = np.arange(lo - 1, hi + 1)                # interior rows are 0 .. n-1; -1 and n are the edges
    u = np.zeros((len(rows), n + 2))
    u[:, 0] = np.clip((n - rows) / (n + 1.0), 0.0, 1.0)   # left edge ramp
    u[rows == -1, :] = 1.0                           # top edge
    u[rows == n, :] = 0.0                            # bottom edge
    inside = (rows >= n // 4) & (rows < 3 * n // 4)
    u[inside, 1 + n // 4:1 + 3 * n // 4] = 0.5      # warm square
    return u


def main(argv):
    args = parse(argv)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, nprocs = comm.Get_rank(), comm.Get_size()
    n = args.size
    if nprocs > n:
        if rank == 0:
            sys.stderr.write("heat.py: %d ranks for %d rows: use at most one rank per row\n" % (nprocs, n))
        return 2
    lo, hi = n * rank // nprocs, n * (rank + 1) // nprocs
    up = rank - 1 if rank > 0 else MPI.PROC_NULL
    down = rank + 1 if rank < nprocs - 1 else MPI.PROC_NULL

    u = initial_block(n, lo, hi)
    # Resident memory for the checkpoint benchmarks (not compressible zeros).
    ballast = np.random.default_rng(rank).integers(0, 255, args.ballast << 20, dtype=np.uint8)  # noqa: F841
    new = u.copy()                                   # keeps the fixed boundary values
    lines = []

    def checksum():
        # Row sums of the interior, each computed alone (so independent of
        # the block layout), added exactly on rank 0.
        parts = comm.gather(u[1:-1, 1:-1].sum(axis=1), root=0)
        if rank == 0:
            return math.fsum(np.concatenate(parts).tolist())
        return None

    def report(step):
        value = checksum()
        if rank == 0:
            line = "step %d checksum %s" % (step, value.hex())
            lines.append(line)
            print(line, flush=True)
        return value

    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        # Halo exchange: my first row goes up, my last row goes down.
        comm.Sendrecv(u[1], dest=up, sendtag=0, recvbuf=u[-1], source=down, recvtag=0)
        comm.Sendrecv(u[-2], dest=down, sendtag=1, recvbuf=u[0], source=up, recvtag=1)
        # Jacobi update of the interior (the same expression for every point).
        new[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
        u, new = new, u
        if args.sleep:
            time.sleep(args.sleep)
        if step % args.every == 0 or step == args.steps:
            value = report(step)
    elapsed = time.perf_counter() - t0

    if rank == 0:
        final = "final checksum %s" % value.hex()
        lines.append(final)
        print(final)
        print("heat: size %d, %d steps, %d ranks, %.2f s (%.1f ms/step), checksum %r"
              % (n, args.steps, nprocs, elapsed, 1000.0 * elapsed / args.steps, value), flush=True)
        if args.result:
            with open(args.result, "w") as f:
                f.write("heat size %d steps %d every %d\n" % (n, args.steps, args.every))
                f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
