"""Function-preserving network morphism and the Auto-Keras architecture kernel.

Operators (each returns a new functional ``keras.Model`` computing the same
function as its input in inference mode):

* :func:`widen` -- more units/filters in a Dense/Conv layer (Net2WiderNet);
  the copies split their outgoing weights unequally at random, so that they
  learn different features (:mod:`~automl_keras.morphism.widening`).
* :func:`deepen` -- insert an identity Dense/Conv layer (Net2DeeperNet,
  :mod:`~automl_keras.morphism.deepening`).
* :func:`add_skip` -- add a zero-initialised skip connection
  (:mod:`~automl_keras.morphism.skip_connections`).
* :func:`morphable_layers` -- the valid operations of a model
  (:mod:`~automl_keras.morphism.candidates`).

They share the graph view (:mod:`~automl_keras.morphism.graph`), the layer
categories (:mod:`~automl_keras.morphism.layer_kinds`), the channel maps
(:mod:`~automl_keras.morphism.channels`) and the rebuilding of the edited model
(:mod:`~automl_keras.morphism.rebuild`).

Kernel (Auto-Keras Bayesian optimisation):

* :func:`describe_architecture` / :func:`architecture_of` -- a serialisable
  layer-graph description (:class:`Architecture`).
* :func:`edit_distance`, :class:`EditDistanceKernel`, :class:`GaussianProcess`
  and :func:`ucb`.
"""

from automl_keras.morphism.candidates import morphable_layers
from automl_keras.morphism.deepening import deepen
from automl_keras.morphism.graph import MorphismError
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
from automl_keras.morphism.skip_connections import add_skip
from automl_keras.morphism.widening import widen

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
