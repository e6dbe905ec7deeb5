"""automl_keras: Keras-native AutoML.

Task estimators search a graph of blocks with KerasTuner oracles, refit the
best model and export it as a plain Keras model that takes raw inputs.
"""

import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from automl_keras.blocks import (  # noqa: E402
    BagOfNgramsBlock,
    CastToFloat32,
    CellBlock,
    ClassificationHead,
    ConvBlock,
    DenseBlock,
    EfficientNetBlock,
    Embedding,
    ExpandLastDim,
    Flatten,
    ForecastHead,
    ImageAugmentation,
    ImageBlock,
    Merge,
    Normalization,
    RegressionHead,
    ResNetBlock,
    RNNBlock,
    SpatialReduction,
    StructuredDataBlock,
    TemporalReduction,
    TextBlock,
    TextCellBlock,
    TextCNNBlock,
    TextRNNBlock,
    TimeSeriesBlock,
    TransformerBlock,
    XceptionBlock,
)
from automl_keras.errors import (  # noqa: E402
    AutoMLError,
    ConfigurationError,
    DataError,
    NotFittedError,
    SearchError,
)
from automl_keras.graph import (  # noqa: E402
    Block,
    Graph,
    Head,
    ImageInput,
    Input,
    Node,
    StructuredDataInput,
    TextInput,
    TimeSeriesInput,
)
from automl_keras.search.executors import (  # noqa: E402
    Executor,
    LocalExecutor,
    RayExecutor,
)
from automl_keras.search.oracles import (  # noqa: E402
    BayesianOptimization,
    Greedy,
    Hyperband,
    RandomSearch,
)
from automl_keras.tasks import (  # noqa: E402
    AutoModel,
    ImageClassifier,
    ImageRegressor,
    StructuredDataClassifier,
    StructuredDataRegressor,
    TextClassifier,
    TextRegressor,
    TimeSeriesForecaster,
)

__version__ = "0.1.0"

#: Custom objects needed to load an exported model: none (every exported
#: model loads with plain `keras.models.load_model`). Kept for code written
#: for AutoKeras, which passes it as `custom_objects=`.
CUSTOM_OBJECTS: dict = {}


def model_inputs(model, frame):
    """Raw DataFrame columns (or texts) arranged for an exported model."""
    from automl_keras.export import model_inputs as _model_inputs

    return _model_inputs(model, frame)


def load(path: str):
    """Loads an estimator saved with `estimator.save(path)`."""
    from automl_keras.export import load_estimator

    return load_estimator(path)


__all__ = [
    "BagOfNgramsBlock",
    "CellBlock",
    "BayesianOptimization",
    "CUSTOM_OBJECTS",
    "CastToFloat32",
    "Embedding",
    "ExpandLastDim",
    "Flatten",
    "Greedy",
    "Hyperband",
    "Node",
    "RandomSearch",
    "TemporalReduction",
    "AutoMLError",
    "AutoModel",
    "Block",
    "ClassificationHead",
    "ConfigurationError",
    "ConvBlock",
    "DataError",
    "DenseBlock",
    "EfficientNetBlock",
    "Executor",
    "Graph",
    "ForecastHead",
    "Head",
    "ImageAugmentation",
    "ImageBlock",
    "ImageClassifier",
    "ImageInput",
    "ImageRegressor",
    "Input",
    "LocalExecutor",
    "Merge",
    "Normalization",
    "NotFittedError",
    "RayExecutor",
    "RegressionHead",
    "RNNBlock",
    "ResNetBlock",
    "SearchError",
    "SpatialReduction",
    "StructuredDataBlock",
    "StructuredDataClassifier",
    "StructuredDataInput",
    "StructuredDataRegressor",
    "TextBlock",
    "TextCellBlock",
    "TextCNNBlock",
    "TextClassifier",
    "TextInput",
    "TextRNNBlock",
    "TextRegressor",
    "TimeSeriesBlock",
    "TimeSeriesForecaster",
    "TimeSeriesInput",
    "TransformerBlock",
    "XceptionBlock",
    "load",
    "model_inputs",
    "__version__",
]
