"""``docstream demo``: a head office and N stores, served for real, streaming to each other.

    setup → workload (with monitor) → report → convergence, driven by ``runner.run``
"""

from docstream.demo.runner import run

__all__ = ["run"]
