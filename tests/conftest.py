"""Make the repository importable as the collection vcluster.cluster."""

import pathlib
import sys

COLLECTIONS = pathlib.Path(__file__).resolve().parents[1] / ".collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
