"""Function-preserving network morphism operators for functional Keras models.

The operators follow Net2Net (Chen et al., 2016) and the network morphism used by
Auto-Keras (Jin et al., 2019): every operator returns a *new* functional
``keras.Model`` whose outputs equal those of the input model in inference mode
(up to float rounding), while the input model is left untouched.

The implementation is split by concern:

* :mod:`~automl_keras.morphism.graph` -- the read-only view of a model's layer
  graph and :class:`MorphismError`;
* :mod:`~automl_keras.morphism.layer_kinds` -- layer categories;
* :mod:`~automl_keras.morphism.rebuild` -- editing the config and rebuilding
  the model with the state of its layers;
* :mod:`~automl_keras.morphism.channels` -- channel maps and their propagation
  to the layers that absorb them;
* :mod:`~automl_keras.morphism.widening`,
  :mod:`~automl_keras.morphism.deepening` and
  :mod:`~automl_keras.morphism.skip_connections` -- the operators with their
  planning functions (which validate an operation without building anything);
* :mod:`~automl_keras.morphism.candidates` -- the valid operations of a model.

This module gathers the operators in one namespace.
"""

from automl_keras.morphism.candidates import morphable_layers
from automl_keras.morphism.deepening import deepen
from automl_keras.morphism.graph import MorphismError
from automl_keras.morphism.skip_connections import add_skip
from automl_keras.morphism.widening import widen

__all__ = [
    "MorphismError",
    "add_skip",
    "deepen",
    "morphable_layers",
    "widen",
]
