"""Shared logic of the MNIST VAE course report: one module per concern, in the order data flows.

paths -> data -> model -> checks -> runtime -> run -> reuse -> training -> curves -> latent -> sampling -> judge
-> second_judge -> selection -> baselines -> copying -> seeds -> explore -> printsize -> plots -> plots_generation
-> report -> report_baselines -> paper. Notebooks, tests, scripts and the benchmark only ever
``import vae_utils as vu``; each module lists its public names in ``__all__`` and is re-exported here in one line
(the design card's ``vae_utils.py`` is now this package).
"""

from . import checks as checks  # the parameter rules, for the tests
from .paths import *  # noqa: F403
from .data import *  # noqa: F403
from .model import *  # noqa: F403
from .checks import *  # noqa: F403
from .runtime import *  # noqa: F403
from .run import *  # noqa: F403
from .reuse import *  # noqa: F403
from .training import *  # noqa: F403
from .curves import *  # noqa: F403
from .latent import *  # noqa: F403
from .sampling import *  # noqa: F403
from .judge import *  # noqa: F403
from .second_judge import *  # noqa: F403
from .selection import *  # noqa: F403
from .baselines import *  # noqa: F403
from .copying import *  # noqa: F403
from .seeds import *  # noqa: F403
from .explore import *  # noqa: F403
from .printsize import *  # noqa: F403
from .plots import *  # noqa: F403
from .plots_generation import *  # noqa: F403
from .report import *  # noqa: F403
from .report_baselines import *  # noqa: F403
from .paper import *  # noqa: F403
