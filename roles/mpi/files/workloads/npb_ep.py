"""NPB EP ("embarrassingly parallel"), from the NPB 3.x specification.

2**M pairs of uniform numbers (x_j, y_j) in (-1, 1) are taken from the NPB
generator (seed 271828183, a = 5**13; pair j uses random numbers 2j-1 and
2j of the stream).  Pairs with t = x**2 + y**2 <= 1 are turned into Gaussian
deviates by the Marsaglia polar method:

    X = x * sqrt(-2 log t / t),   Y = y * sqrt(-2 log t / t)

The benchmark reports sx = sum X, sy = sum Y and the counts q(l) of pairs with
l <= max(|X|, |Y|) < l + 1.  NPB produces the stream in batches of 2**16 pairs,
each batch starting from a seed obtained by jumping ahead; the stream itself
is just the consecutive sequence, so here each rank takes a contiguous range
of larger chunks and computes each chunk with vectorised jump-ahead.
"""

import numpy as np

from npb_common import Stream, Timer, rank_ordered_sum, split

SEED = 271828183
M = {"S": 24, "W": 25, "A": 28}
# NPB's reference sums (ep.f / ep.c, verify), relative tolerance 1e-8.
REFERENCE = {
    "S": (-3.247834652034740e+3, -6.958407078382297e+3),
    "W": (-2.863319731645753e+3, -6.320053679109499e+3),
    "A": (-4.295875165629892e+3, -1.580732573678431e+4),
}
EPSILON = 1.0e-8
NQ = 10
CHUNK_LOG2 = 17           # pairs per vectorised chunk (2 * 2**17 doubles = 2 MB)


def gaussian_chunk(x):
    """Sums and counts of the Gaussian pairs made from the uniform doubles x
    (pairs (x[0], x[1]), (x[2], x[3]), ...), with NPB's arithmetic."""
    x *= 2.0
    x -= 1.0                              # x1 = 2 r - 1, as in NPB
    x1, x2 = x[0::2], x[1::2]
    t1 = x1 * x1 + x2 * x2
    accept = t1 <= 1.0
    x1, x2, t1 = x1[accept], x2[accept], t1[accept]
    t2 = np.sqrt(-2.0 * np.log(t1) / t1)
    t3 = x1 * t2
    t4 = x2 * t2
    ring = np.maximum(np.abs(t3), np.abs(t4)).astype(np.int64)
    q = np.bincount(ring, minlength=NQ)[:NQ]
    return float(t3.sum()), float(t4.sum()), q


def run(comm, klass):
    from mpi4py import MPI
    rank, nprocs = comm.Get_rank(), comm.Get_size()
    m = M[klass]
    pairs = 1 << m
    chunk = 1 << min(CHUNK_LOG2, m)
    first, last = split(pairs // chunk, nprocs, rank)

    stream = Stream(SEED)
    stream.states(0, 2 * chunk)            # untimed set-up: the table of powers of a

    comm.Barrier()
    timer = Timer()
    timer.start()
    sx = sy = 0.0
    q = np.zeros(NQ, dtype=np.int64)
    for c in range(first, last):
        csx, csy, cq = gaussian_chunk(stream.block(2 * chunk * c, 2 * chunk))
        sx += csx
        sy += csy
        q += cq
    sx = rank_ordered_sum(comm, sx)
    sy = rank_ordered_sum(comm, sy)
    q = rank_ordered_sum(comm, q)
    timer.stop()
    t = comm.allreduce(timer.elapsed, op=MPI.MAX)

    ref_sx, ref_sy = REFERENCE[klass]
    err_sx = abs((sx - ref_sx) / ref_sx)
    err_sy = abs((sy - ref_sy) / ref_sy)
    verified = err_sx <= EPSILON and err_sy <= EPSILON
    mops = 2.0 ** (m + 1) / t / 1.0e6

    lines = []
    if rank == 0:
        lines = [
            " NAS Parallel Benchmarks (Python/mpi4py) - EP Benchmark",
            " Number of random numbers generated: %15d" % (2 ** (m + 1)),
            " Number of active processes:         %15d" % nprocs,
            "",
            " EP Benchmark Results:",
            " CPU Time = %10.4f" % t,
            " N = 2^%5d" % m,
            " No. Gaussian Pairs = %15d" % int(q.sum()),
            " Sums = %25.15e %25.15e" % (sx, sy),
            " Counts:",
        ] + ["%3d %15d" % (i, q[i]) for i in range(NQ)] + [
            "",
            " Verification values:",
            " sx: computed %25.15e reference %25.15e rel. difference %10.3e" % (sx, ref_sx, err_sx),
            " sy: computed %25.15e reference %25.15e rel. difference %10.3e" % (sy, ref_sy, err_sy),
            " (relative tolerance %.0e)" % EPSILON,
        ]
    return {
        "name": "EP", "size": 2 ** (m + 1), "niter": 0, "time": t, "mops": mops,
        "optype": "Random numbers generated", "verified": verified, "lines": lines,
        "values": {"sx": sx, "sy": sy, "q": [int(v) for v in q], "gaussian_pairs": int(q.sum())},
        "reference": {"sx": ref_sx, "sy": ref_sy, "epsilon": EPSILON},
    }

