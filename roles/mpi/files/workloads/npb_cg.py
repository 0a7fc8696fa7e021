"""NPB CG (conjugate gradient), from the NPB 3.x specification.

The power method estimates the smallest eigenvalue of a sparse symmetric
positive definite matrix A (na x na): each of ``niter`` outer iterations solves
A z = x approximately with 25 unpreconditioned CG steps, then

    zeta = shift + 1 / (x . z),   x = z / ||z||

and the final zeta is checked against NPB's value (relative tolerance 1e-10).

A is NPB's ``makea`` matrix (the matrix must be the same one to the last bit
of structure, or zeta differs):

    A = sum_i size_i * v_i v_i^T  +  (rcond - shift) * I

where v_i is a sparse random vector with ``nonzer`` entries drawn by
``sprnvc`` plus the entry i set to 0.5 by ``vecset``, size_i = rcond**(i/na),
rcond = 0.1.  The random numbers come from the NPB generator with seed
314159265 and multiplier 5**13, one number being drawn (and discarded as the
initial zeta) before makea starts.  Every rank generates all the v_i (cheap)
and assembles only its own block of rows in CSR form.

Parallelisation: row blocks.  Each rank holds its rows of A and its part of
every vector; before each product A p the full p is assembled with
Allgatherv, and every dot product is a local sum followed by an Allreduce.
"""

import numpy as np

from npb_common import Randlc, Timer, split

# class -> (na, nonzer, niter, shift, reference zeta)
CLASSES = {
    "S": (1400, 7, 15, 10.0, 8.5971775078648),
    "W": (7000, 8, 15, 12.0, 10.362595087124),
    "A": (14000, 11, 15, 20.0, 17.130235054029),
}
RCOND = 0.1
CGITMAX = 25
EPSILON = 1.0e-10
TRAN = 314159265
AMULT = 1220703125


def make_vectors(na, nonzer):
    """The sparse vectors v_1 .. v_na of makea as (indices, values) pairs,
    indices 1-based as in NPB, in NPB's generation order."""
    rng = Randlc(TRAN, AMULT)
    rng.next()                      # main(): zeta = randlc(&tran, amult)
    nn1 = 1                         # smallest power of two >= na (makea: do ... while)
    while True:
        nn1 *= 2
        if nn1 >= na:
            break
    vectors = []
    for iouter in range(1, na + 1):
        # sprnvc: nonzer distinct random positions in 1..na, each with a random value.
        iv, v = [], []
        while len(iv) < nonzer:
            vecelt = rng.next()
            vecloc = rng.next()
            i = int(vecloc * nn1) + 1          # icnvrt(vecloc, nn1) + 1
            if i > na or i in iv:
                continue
            iv.append(i)
            v.append(vecelt)
        # vecset: element iouter becomes 0.5 (added if absent).
        if iouter in iv:
            v[iv.index(iouter)] = 0.5
        else:
            iv.append(iouter)
            v.append(0.5)
        vectors.append((iv, v))
    return vectors


def assemble(vectors, na, shift, row_lo, row_hi):
    """CSR (rowptr, colidx, values) of rows row_lo .. row_hi-1 (0-based) of A.

    Entry (j, k) of size_i * v_i v_i^T is v_i[k] * (size_i * v_i[j]) as in NPB's
    ``sparse``; the diagonal term rcond - shift joins the contribution of v_i to
    entry (i, i).  Duplicates are summed in the order of i, as NPB does."""
    sizes = np.empty(na)
    size = 1.0
    ratio = RCOND ** (1.0 / na)
    for i in range(na):
        sizes[i] = size
        size *= ratio

    rows, cols, vals, owner = [], [], [], []
    by_length = {}
    for i, (iv, v) in enumerate(vectors):
        by_length.setdefault(len(iv), []).append(i)
    for length, members in by_length.items():
        members = np.array(members)
        idx = np.array([vectors[i][0] for i in members], dtype=np.int64) - 1   # (k, L), 0-based
        val = np.array([vectors[i][1] for i in members])
        scale = sizes[members][:, None] * val                 # size * v[j]   (k, L)
        r = np.broadcast_to(idx[:, :, None], (len(members), length, length))
        c = np.broadcast_to(idx[:, None, :], r.shape)
        a = val[:, None, :] * scale[:, :, None]               # v[k] * scale[j]
        diag = (r == c) & (r == members[:, None, None])
        a[diag] = (a[diag] + RCOND) - shift
        mine = (r >= row_lo) & (r < row_hi)
        rows.append(r[mine])
        cols.append(c[mine])
        vals.append(a[mine])
        owner.append(np.broadcast_to(members[:, None, None], r.shape)[mine])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    vals, owner = np.concatenate(vals), np.concatenate(owner)

    order = np.lexsort((owner, cols, rows))                   # by row, column, then i
    rows, cols, vals = rows[order], cols[order], vals[order]
    key = rows * na + cols
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    values = np.add.reduceat(vals, starts)
    colidx = cols[starts]
    counts = np.bincount(rows[starts] - row_lo, minlength=row_hi - row_lo)
    rowptr = np.zeros(row_hi - row_lo + 1, dtype=np.int64)
    np.cumsum(counts, out=rowptr[1:])
    return rowptr, colidx, values


class Solver:
    """The distributed CG of NPB's conj_grad on a row block of A."""

    def __init__(self, comm, na, rowptr, colidx, values):
        from mpi4py import MPI
        self.MPI = MPI
        self.comm = comm
        blocks = [split(na, comm.Get_size(), r) for r in range(comm.Get_size())]
        self.counts = [hi - lo for lo, hi in blocks]
        self.displs = [lo for lo, _hi in blocks]
        self.rowptr, self.colidx, self.values = rowptr, colidx, values
        self.full = np.empty(na)
        self._one = np.empty(1)
        self._sum = np.empty(1)

    def dot(self, u, v):
        self._one[0] = np.dot(u, v)
        self.comm.Allreduce(self._one, self._sum, op=self.MPI.SUM)
        return float(self._sum[0])

    def matvec(self, local):
        """This rank's rows of A times the full vector whose local part is given."""
        self.comm.Allgatherv(local, [self.full, self.counts, self.displs, self.MPI.DOUBLE])
        return np.add.reduceat(self.values * self.full[self.colidx], self.rowptr[:-1])

    def conj_grad(self, x):
        """z ~ A^-1 x after CGITMAX steps, and ||x - A z||."""
        z = np.zeros_like(x)
        r = x.copy()
        p = r.copy()
        rho = self.dot(r, r)
        for _ in range(CGITMAX):
            q = self.matvec(p)
            alpha = rho / self.dot(p, q)
            rho0 = rho
            z += alpha * p
            r -= alpha * q
            rho = self.dot(r, r)
            beta = rho / rho0
            p = r + beta * p
        # The explicit residual norm ||x - A z||.
        d = x - self.matvec(z)
        return z, np.sqrt(self.dot(d, d))


def run(comm, klass):
    from mpi4py import MPI
    rank, nprocs = comm.Get_rank(), comm.Get_size()
    na, nonzer, niter, shift, zeta_ref = CLASSES[klass]
    lo, hi = split(na, nprocs, rank)

    init = Timer()
    init.start()
    solver = Solver(comm, na, *assemble(make_vectors(na, nonzer), na, shift, lo, hi))
    nnz = comm.allreduce(len(solver.values), op=MPI.SUM)

    # One untimed iteration to touch all code and data, then start afresh.
    x = np.ones(hi - lo)
    z, _ = solver.conj_grad(x)
    x = z * (1.0 / np.sqrt(solver.dot(z, z)))
    x = np.ones(hi - lo)
    init.stop()

    comm.Barrier()
    timer = Timer()
    timer.start()
    zeta = 0.0
    history = []
    for it in range(1, niter + 1):
        z, rnorm = solver.conj_grad(x)
        norm_temp1 = solver.dot(x, z)
        norm_temp2 = 1.0 / np.sqrt(solver.dot(z, z))
        zeta = shift + 1.0 / norm_temp1
        history.append("    %5d       %20.14e%20.13e" % (it, rnorm, zeta))
        x = norm_temp2 * z
    timer.stop()
    t = comm.allreduce(timer.elapsed, op=MPI.MAX)

    err = abs(zeta - zeta_ref) / zeta_ref
    verified = err <= EPSILON
    nz2 = nonzer * (nonzer + 1)
    mops = 2.0 * niter * na * (3.0 + nz2 + 25.0 * (5.0 + nz2) + 3.0) / t / 1.0e6 if t > 0 else 0.0

    lines = []
    if rank == 0:
        lines = [
            " NAS Parallel Benchmarks (Python/mpi4py) - CG Benchmark",
            " Size: %11d" % na,
            " Iterations: %5d" % niter,
            " Number of active processes: %5d" % nprocs,
            " Number of nonzeroes per row: %8d" % nonzer,
            " Eigenvalue shift: %8.3e" % shift,
            " Nonzeroes in the matrix: %12d" % nnz,
            " Initialization time = %15.3f seconds" % init.elapsed,
            "",
            "   iteration           ||r||                 zeta",
        ] + history + [
            "",
            " Verification values:",
            " zeta: computed %20.13e reference %20.13e rel. difference %10.3e" % (zeta, zeta_ref, err),
            " (relative tolerance %.0e)" % EPSILON,
        ]
    return {
        "name": "CG", "size": na, "niter": niter, "time": t, "mops": mops,
        "optype": "floating point", "verified": verified, "lines": lines,
        "values": {"zeta": zeta, "rnorm": float(rnorm), "nonzeros": int(nnz)},
        "reference": {"zeta": zeta_ref, "epsilon": EPSILON},
    }
