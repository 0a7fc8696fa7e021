"""NPB IS (integer sort), from the NPB 3.x specification.

NUM_KEYS = 2**TOTAL_KEYS_LOG_2 keys in [0, MAX_KEY) are generated with the NPB
generator (seed 314159265, a = 5**13): key i = int(MAX_KEY/4 * (r1 + r2 + r3
+ r4)) with four consecutive random numbers, summed left to right as NPB does
(the truncation makes the order of the additions matter).

Each of the 10 timed iterations (after one untimed one) first changes two keys
(key[it] = it, key[it + 10] = MAX_KEY - it), then ranks all the keys: a
bucket sort spreads the keys over the processes by key range (global bucket
sizes by Allreduce, the keys by Alltoallv), and each process counts its keys
per value and turns the counts into ranks.  The partial verification checks
the rank of five test keys against NPB's table (shifted by +-iteration as in
NPB); the full verification after the last iteration places the keys by the
computed ranks (counting sort), checks that this is exactly each process's
keys in sorted order, that the order holds across processes and that no key
was lost.  Unlike NPB's MPI IS, any number of processes works.
"""

import numpy as np

from npb_common import Stream, Timer, split

# class -> (TOTAL_KEYS_LOG_2, MAX_KEY_LOG_2, NUM_BUCKETS_LOG_2)
CLASSES = {"S": (16, 11, 9), "W": (20, 16, 10), "A": (23, 19, 10)}
MAX_ITERATIONS = 10
SEED = 314159265
# NPB's partial verification: the keys at these (global) indices must have
# these ranks, shifted by the iteration as ``expected_rank`` says.
TEST_INDEX = {
    "S": (48427, 17148, 23627, 62548, 4431),
    "W": (357773, 934767, 875723, 898999, 404505),
    "A": (2112377, 662041, 5336171, 3642833, 4250760),
}
TEST_RANK = {
    "S": (0, 18, 346, 64917, 65463),
    "W": (1249, 11698, 1039987, 1043896, 1048018),
    "A": (104, 17523, 123928, 8288932, 8388264),
}


def expected_rank(klass, i, iteration):
    """NPB's expected rank of test key i at an iteration.  Every iteration
    adds small keys (1 .. it) and large ones (MAX_KEY - it), moving the ranks
    of low test keys up and of high ones down; NPB's table is offset per class."""
    base = TEST_RANK[klass][i]
    if klass == "S":
        return base + iteration if i <= 2 else base - iteration
    if klass == "W":
        return base + (iteration - 2) if i < 2 else base - iteration
    # class A
    return base + (iteration - 1) if i <= 2 else base - (iteration - 1)


GEN_CHUNK = 1 << 18        # keys generated per vectorised step


def create_keys(lo, hi, max_key):
    """Keys number lo .. hi-1 of NPB's create_seq."""
    stream = Stream(SEED)
    k = max_key // 4
    keys = np.empty(hi - lo, dtype=np.int32)
    for start in range(lo, hi, GEN_CHUNK):
        n = min(GEN_CHUNK, hi - start)
        r = stream.block(4 * start, 4 * n).reshape(n, 4)
        x = r[:, 0] + r[:, 1]
        x += r[:, 2]
        x += r[:, 3]
        keys[start - lo:start - lo + n] = (k * x).astype(np.int32)   # truncation, as (INT_TYPE)
    return keys


class Sorter:
    def __init__(self, comm, klass):
        from mpi4py import MPI
        self.MPI = MPI
        self.comm = comm
        self.rank, self.nprocs = comm.Get_rank(), comm.Get_size()
        keys_log2, max_key_log2, buckets_log2 = CLASSES[klass]
        self.klass = klass
        self.num_keys = 1 << keys_log2
        self.max_key = 1 << max_key_log2
        self.num_buckets = 1 << buckets_log2
        self.shift = max_key_log2 - buckets_log2
        self.lo, self.hi = split(self.num_keys, self.nprocs, self.rank)
        self.keys = create_keys(self.lo, self.hi, self.max_key)
        self.passed = 0
        self.received = None

    def rank_keys(self, iteration):
        """One NPB ``rank(iteration)``: returns nothing, counts passed tests."""
        comm, MPI, nb = self.comm, self.MPI, self.num_buckets
        # The two keys that change every iteration (global indices).
        for index, value in ((iteration, iteration),
                             (iteration + MAX_ITERATIONS, self.max_key - iteration)):
            if self.lo <= index < self.hi:
                self.keys[index - self.lo] = value

        # Local bucket sizes, plus the test keys hidden behind them so that one
        # Allreduce carries both (as NPB does).
        bucket = self.keys >> self.shift
        local = np.zeros(nb + 5, dtype=np.int64)
        local[:nb] = np.bincount(bucket, minlength=nb)
        for i, index in enumerate(TEST_INDEX[self.klass]):
            if self.lo <= index < self.hi:
                local[nb + i] = self.keys[index - self.lo]
        total = np.empty_like(local)
        comm.Allreduce(local, total, op=MPI.SUM)
        sizes, test_keys = total[:nb], total[nb:]

        # Buckets go to processes in contiguous ranges of about NUM_KEYS/np keys.
        before = np.concatenate(([0], np.cumsum(sizes)[:-1]))          # keys in lower buckets
        owner = np.minimum(before * self.nprocs // self.num_keys, self.nprocs - 1)
        first_bucket = np.searchsorted(owner, np.arange(self.nprocs + 1), side="left")
        b_lo, b_hi = first_bucket[self.rank], first_bucket[self.rank + 1]
        min_key, max_key = b_lo << self.shift, b_hi << self.shift      # this rank's keys: [min, max)
        lesser = int(before[b_lo]) if b_lo < nb else self.num_keys       # keys on lower ranks

        # Send each key to the owner of its bucket (local bucket sort first).
        order = np.argsort(bucket.astype(np.uint16), kind="stable")
        outgoing = self.keys[order]
        send_counts = np.bincount(owner[bucket], minlength=self.nprocs).astype(np.int64)
        recv_counts = np.empty_like(send_counts)
        comm.Alltoall(send_counts, recv_counts)
        received = np.empty(int(recv_counts.sum()), dtype=np.int32)
        send_displ = np.concatenate(([0], np.cumsum(send_counts)[:-1]))
        recv_displ = np.concatenate(([0], np.cumsum(recv_counts)[:-1]))
        comm.Alltoallv([outgoing, send_counts, send_displ, MPI.INT],
                       [received, recv_counts, recv_displ, MPI.INT])

        # Ranks: counts per key value, prefix-summed (keys <= value on this rank).
        counts = np.bincount(received - min_key, minlength=max_key - min_key)
        at_most = np.cumsum(counts)

        # Partial verification: the owner of each test key checks its rank.
        for i, k in enumerate(int(v) for v in test_keys):
            if min_key <= k < max_key and 0 < k <= self.num_keys - 1:
                key_rank = lesser + (int(at_most[k - 1 - min_key]) if k - 1 >= min_key else 0)
                expected = expected_rank(self.klass, i, iteration)
                if key_rank == expected:
                    self.passed += 1
                else:
                    print(" Failed partial verification: iteration %d, process %d, test key %d"
                          % (iteration, self.rank, i), flush=True)
        self.received, self.min_key, self.counts = received, min_key, counts

    def full_verify(self):
        """Sort this rank's keys with the computed ranks and check the order
        everywhere (within and across ranks) and that no key was lost."""
        comm = self.comm
        placed = np.repeat(np.arange(self.min_key, self.min_key + len(self.counts), dtype=np.int32),
                           self.counts)                          # the keys put at their ranks
        ok = np.array_equal(placed, np.sort(self.received))
        ok = ok and not np.any(placed[1:] < placed[:-1])
        ends = comm.allgather((int(placed[0]), int(placed[-1])) if len(placed) else None)
        ends = [e for e in ends if e is not None]
        ok_all = all(comm.allgather(ok))
        ok_all = ok_all and all(a[1] <= b[0] for a, b in zip(ends, ends[1:]))
        ok_all = ok_all and comm.allreduce(len(placed)) == self.num_keys
        if not ok_all and self.rank == 0:
            print(" Full_verify: keys out of sort", flush=True)
        return ok_all


def run(comm, klass):
    from mpi4py import MPI
    rank, nprocs = comm.Get_rank(), comm.Get_size()
    sorter = Sorter(comm, klass)
    sorter.rank_keys(1)                       # untimed, as in NPB
    sorter.passed = 0

    comm.Barrier()
    timer = Timer()
    timer.start()
    for iteration in range(1, MAX_ITERATIONS + 1):
        sorter.rank_keys(iteration)
    timer.stop()
    t = comm.allreduce(timer.elapsed, op=MPI.MAX)

    passed = comm.allreduce(sorter.passed, op=MPI.SUM)
    full = sorter.full_verify()
    passed += 1 if full else 0
    expected = 5 * MAX_ITERATIONS + 1
    verified = passed == expected
    mops = MAX_ITERATIONS * sorter.num_keys / t / 1.0e6

    lines = []
    if rank == 0:
        lines = [
            " NAS Parallel Benchmarks (Python/mpi4py) - IS Benchmark",
            " Size:  %d  (class %s)" % (sorter.num_keys, klass),
            " Iterations:  %d" % MAX_ITERATIONS,
            " Number of processes:  %d" % nprocs,
            "",
            " Verification values:",
            " passed tests: computed %d reference %d difference %d"
            % (passed, expected, passed - expected),
            " (5 partial verifications per iteration + 1 full verification)",
        ]
    return {
        "name": "IS", "size": sorter.num_keys, "niter": MAX_ITERATIONS, "time": t, "mops": mops,
        "optype": "keys ranked", "verified": verified, "lines": lines,
        "values": {"passed": passed, "full_verify": bool(full)},
        "reference": {"passed": expected},
    }
