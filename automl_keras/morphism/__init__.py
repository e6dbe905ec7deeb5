"""Function-preserving network morphism and the Auto-Keras architecture kernel.

Operators (each returns a new functional ``keras.Model`` computing the same
function as its input in inference mode):

* :func:`widen` -- more units/filters in a Dense/Conv layer (Net2WiderNet).
* :func:`deepen` -- insert an identity Dense/Conv layer (Net2DeeperNet).
* :func:`add_skip` -- add a zero-initialised skip connection.
* :func:`morphable_layers` -- the valid operations of a model.

Kernel (Auto-Keras Bayesian optimisation):

* :func:`describe_architecture` / :func:`architecture_of` -- a serialisable
  layer-graph description (:class:`Architecture`).
* :func:`edit_distance`, :class:`EditDistanceKernel`, :class:`GaussianProcess`
  and :func:`ucb`.
"""

from automl_keras.morphism.kernel import (
    Architecture,
    EditDistanceKernel,
    GaussianProcess,
    LayerSpec,
    SkipSpec,
    architecture_of,
    describe_architecture,
    edit_distance,
    ucb,
)
from automl_keras.morphism.operators import (
    MorphismError,
    add_skip,
    deepen,
    morphable_layers,
    widen,
)

__all__ = [
    "Architecture",
    "EditDistanceKernel",
    "GaussianProcess",
    "LayerSpec",
    "MorphismError",
    "SkipSpec",
    "add_skip",
    "architecture_of",
    "deepen",
    "describe_architecture",
    "edit_distance",
    "morphable_layers",
    "ucb",
    "widen",
]
