#!/usr/bin/python3
"""NPB-style MPI kernels in Python (mpi4py + NumPy), written from the NAS
Parallel Benchmarks 3.x specification.

    mpirun -np N python3 npb.py {ep,cg,is} {S,W,A} [--result FILE]

Rank 0 prints the NPB report (verification quantities against NPB's
reference values, time, Mop/s with NPB's operation counts).  Exit code 0 when
the verification succeeded, 1 when it failed, 2 on bad arguments.
``--result FILE`` also writes a JSON summary (rank 0).
"""

import argparse
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# kernel -> (module, classes); NPB names the kernels in upper case.
KERNELS = {
    "ep": ("npb_ep", ("S", "W", "A")),
    "cg": ("npb_cg", ("S", "W", "A")),
    "is": ("npb_is", ("S", "W", "A")),
}


def parse(argv):
    parser = argparse.ArgumentParser(prog="npb.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("kernel", help="one of: %s" % ", ".join(KERNELS))
    parser.add_argument("klass", metavar="class", help="problem class (S, W, A)")
    parser.add_argument("--result", metavar="FILE", help="write a JSON summary to FILE")
    args = parser.parse_args(argv)
    args.kernel = args.kernel.lower()
    args.klass = args.klass.upper()
    if args.kernel not in KERNELS:
        parser.exit(2, "npb.py: unknown kernel %r: valid kernels are %s\n"
                    % (args.kernel, ", ".join(KERNELS)))
    classes = KERNELS[args.kernel][1]
    if args.klass not in classes:
        parser.exit(2, "npb.py: %s supports classes %s, not %r\n"
                    % (args.kernel, ", ".join(classes), args.klass))
    return args


def main(argv):
    args = parse(argv)
    # Import MPI only now: bad arguments are reported without starting MPI.
    from mpi4py import MPI
    import npb_common

    comm = MPI.COMM_WORLD
    kernel = importlib.import_module(KERNELS[args.kernel][0])
    r = kernel.run(comm, args.klass)
    if comm.Get_rank() == 0:
        if r["lines"]:
            print("\n".join(r["lines"]))
        npb_common.print_results(r["name"], args.klass, r["size"], r["niter"], r["time"],
                                 comm.Get_size(), r["mops"], r["optype"], r["verified"])
        if args.result:
            npb_common.write_result(args.result, args.kernel, args.klass, comm.Get_size(),
                                    r["time"], r["mops"], r["verified"], r["values"],
                                    r["reference"])
    return 0 if r["verified"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
