"""TruthGuard: truth discovery for crowdsourced numeric answers that stays honest when some of the crowd lies.

Quick start::

    import truthguard as tg

    data = tg.datasets.load("synthetic")
    estimates = tg.aggregators.CRH().fit_predict(data.answers)
    print(tg.metrics.evaluate(estimates, data.truth))
"""

from truthguard import aggregators, datasets, metrics
from truthguard.core import Answers, Bounds, read_answers, read_bounds, read_truth, write_table
from truthguard.errors import DataUnavailableError, InputError, TruthGuardError

__version__ = "0.1.0"

__all__ = [
    "Answers",
    "Bounds",
    "DataUnavailableError",
    "InputError",
    "TruthGuardError",
    "__version__",
    "aggregators",
    "datasets",
    "metrics",
    "read_answers",
    "read_bounds",
    "read_truth",
    "write_table",
]
