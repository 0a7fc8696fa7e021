"""Shared pieces of the NPB-style kernels: the NPB random number generator,
timing, the NPB report and the JSON result file.

The NAS Parallel Benchmarks generate their data with a multiplicative linear
congruential generator (NPB 3.x, ``randlc``/``vranlc``)::

    x[k+1] = a * x[k]  mod 2**46,    returned value  x[k+1] * 2**-46

with a = 5**13 = 1220703125.  NPB computes it in double precision by
splitting the operands in 23-bit halves; every value is an integer below 2**46,
which a double holds exactly, so integer arithmetic gives bit-identical
numbers.  Here the scalar generator uses Python integers and the vector one
NumPy uint64 with the same 23-bit split (so no product overflows 64 bits).
"""

import json
import sys
import time

import numpy as np

A = 1220703125            # 5**13, the NPB multiplier
MOD_BITS = 46
MOD = 1 << MOD_BITS       # 2**46
MASK46 = MOD - 1
MASK23 = (1 << 23) - 1
R46 = 2.0 ** -46          # scales an integer state to a double in (0, 1)


class Randlc:
    """Scalar NPB ``randlc``: ``next()`` advances the state and returns it
    scaled to (0, 1), exactly as NPB's randlc(&x, a) does."""

    def __init__(self, seed, a=A):
        self.x = int(seed)
        self.a = int(a)

    def next(self):
        self.x = (self.a * self.x) & MASK46
        return self.x * R46


def jump(seed, k, a=A):
    """The state after k steps of the generator from ``seed``: seed * a**k mod 2**46."""
    return (int(seed) * pow(int(a), int(k), MOD)) & MASK46


def mulmod46(hi, lo, s):
    """(hi * 2**23 + lo) * s mod 2**46, element-wise, for uint64 arrays hi, lo
    (< 2**23 each) and a Python int s < 2**46.  Writing s = sh * 2**23 + sl:
    the product mod 2**46 is ((hi*sl + lo*sh) mod 2**23) * 2**23 + lo*sl,
    and every partial product is below 2**46."""
    sh = np.uint64(s >> 23)
    sl = np.uint64(s & MASK23)
    t = hi * sl
    t += lo * sh
    t &= np.uint64(MASK23)
    t <<= np.uint64(23)
    t += lo * sl
    t &= np.uint64(MASK46)
    return t


class Stream:
    """Vectorised NPB generator: ``block(start, n)`` returns the doubles
    number start+1 .. start+n of the stream that begins at ``seed`` (number 1
    is what the first randlc call returns), computed as seed * a**k by jumping
    ahead, so any rank can produce any part of the stream independently.

    The powers a**1 .. a**n are tabulated once (by doubling) and kept split
    into 23-bit halves for ``mulmod46``."""

    def __init__(self, seed, a=A):
        self.seed = int(seed)
        self.a = int(a)
        self._hi = self._lo = np.zeros(0, dtype=np.uint64)

    def _table(self, n):
        if len(self._hi) >= n:
            return
        powers = np.array([self.a], dtype=np.uint64)     # a**1
        while len(powers) < n:
            m = len(powers)
            hi, lo = powers >> np.uint64(23), powers & np.uint64(MASK23)
            # a**(m+1) .. a**(2m) = a**m * (a**1 .. a**m)
            powers = np.concatenate([powers, mulmod46(hi, lo, pow(self.a, m, MOD))])
        self._hi = powers >> np.uint64(23)
        self._lo = powers & np.uint64(MASK23)

    def states(self, start, n):
        """The integer states number start+1 .. start+n (uint64)."""
        self._table(n)
        return mulmod46(self._hi[:n], self._lo[:n], jump(self.seed, start, self.a))

    def block(self, start, n):
        """The doubles number start+1 .. start+n, each in (0, 1)."""
        x = self.states(start, n).astype(np.float64)
        x *= R46
        return x


def split(total, parts, index):
    """[lo, hi) of the index-th of ``parts`` near-equal contiguous blocks of range(total)."""
    return total * index // parts, total * (index + 1) // parts


def rank_ordered_sum(comm, value):
    """Sum ``value`` (a float or NumPy array) over all ranks in rank order on
    every rank: a deterministic reduction (MPI's own may associate as it likes)."""
    parts = comm.allgather(value)
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


class Timer:
    def __init__(self):
        self.elapsed = 0.0
        self._t0 = None

    def start(self):
        self._t0 = time.perf_counter()

    def stop(self):
        self.elapsed += time.perf_counter() - self._t0


def print_results(name, klass, size, niter, t, nprocs, mops, optype, verified):
    """The NPB completion report (the layout of NPB's c_print_results)."""
    out = [
        "",
        " %s Benchmark Completed." % name,
        " Class           =             %12s" % klass,
        " Size            =             %12s" % size,
        " Iterations      =             %12d" % niter,
        " Time in seconds =             %12.2f" % t,
        " Total processes =             %12d" % nprocs,
        " Mop/s total     =             %12.2f" % mops,
        " Mop/s/process   =             %12.2f" % (mops / nprocs),
        " Operation type  = %24s" % optype,
        " Verification    =             %12s" % ("SUCCESSFUL" if verified else "UNSUCCESSFUL"),
        " Version         =             %12s" % "3.x-py",
        "",
    ]
    print("\n".join(out))
    sys.stdout.flush()


def write_result(path, kernel, klass, nprocs, t, mops, verified, values, reference):
    """The JSON result file (``--result``)."""
    data = {"kernel": kernel, "class": klass, "nprocs": nprocs, "time_s": round(t, 6),
            "mops": round(mops, 6), "verified": bool(verified), "values": values,
            "reference": reference}
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
