"""frontdesk: a self-hosted AI customer agent for online stores."""

import os

# One decision is a few small matrix products: BLAS worker threads only spin between them. With the default (one
# per core) every message cost twice the CPU, taken from the event loop's neighbours. Set before numpy is imported;
# an explicit environment setting still wins.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

__version__ = "0.1.0"
