"""The data stage of `fit`: adapt, validate, split and analyse the user's data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automl_keras.data import adapters
from automl_keras.data.splitting import validation_indices
from automl_keras.errors import ConfigurationError, DataError
from automl_keras.graph.graph import Graph
from automl_keras.search.data import SearchData


@dataclass
class PreparedData:
    """What the data stage hands to the search: graph, encoders, arrays."""

    graph: Graph
    encoders: list
    data: SearchData


class DataPreparation:
    """The estimator's data handling: per-input adaptation and the split.

    Tasks override `_split_xy` (how raw data becomes per-input data and
    targets), `_shuffle_split` and `_split_gap`.
    """

    _shuffle_split = True
    #: Rows left out between the training and validation parts of a
    #: chronological split (windows whose targets would overlap).
    _split_gap = 0

    # -- data ---------------------------------------------------------------------
    def _split_xy(self, graph: Graph, x, y, target, *, argument="x"):
        """Adapted per-input data and per-head targets (lists in graph order)."""
        inputs, heads = graph.inputs, graph.heads
        if target is not None:
            if len(inputs) != 1 or not inputs[0].takes_frame:
                raise ConfigurationError(
                    "target= names the label column of a DataFrame or CSV file and "
                    "needs a single structured or text input. Pass y= instead."
                )
            if y is not None:
                raise ConfigurationError("Pass either y or target, not both.")
            frame = adapters.to_frame(x, argument=argument)
            frame, y = adapters.split_target(frame, target, argument=argument)
            x = frame
            if isinstance(target, list | tuple) and len(heads) > 1:
                y = [y[name] for name in target]
        xs = self._per_node(x, inputs, "inputs", argument)
        data = [
            node.adapt(
                v,
                argument=f"{argument}[{node.name!r}]" if len(inputs) > 1 else argument,
            )
            for node, v in zip(inputs, xs)
        ]
        if y is None and len(inputs) == 1 and adapters.is_tf_dataset(x):
            _, y = adapters.dataset_to_numpy(x)
        targets = None
        if y is not None or not heads:
            ys = self._per_node(y, heads, "heads", "y")
            targets = [
                adapters.to_target_array(
                    v,
                    argument="y" if len(heads) == 1 else f"y[{h.name!r}]",
                    keep_column=h.task == "regression",
                )
                for h, v in zip(heads, ys)
            ]
        return data, targets

    @staticmethod
    def _per_node(value, nodes, kind, argument):
        if len(nodes) == 1:
            if isinstance(value, dict) and nodes[0].name in value and len(value) == 1:
                return [value[nodes[0].name]]
            return [value]
        names = [n.name for n in nodes]
        if isinstance(value, dict):
            missing = [n for n in names if n not in value]
            if missing:
                raise DataError(
                    f"{argument} must have one entry per graph {kind[:-1]}: {names}. "
                    f"Missing: {missing}."
                )
            return [value[n] for n in names]
        if isinstance(value, list | tuple) and len(value) == len(nodes):
            return list(value)
        raise DataError(
            f"The graph has {len(nodes)} {kind} ({names}): pass {argument} as a list "
            f"in that order or a dict keyed by those names. Received: "
            f"{adapters.describe(value)}."
        )

    def _check_lengths(self, graph, data, targets):
        lengths = [node.num_samples(d) for node, d in zip(graph.inputs, data)]
        if len(set(lengths)) > 1:
            raise DataError(
                f"All inputs must have the same number of samples. Received: {lengths}."
            )
        if targets is not None:
            for head, t in zip(graph.heads, targets):
                adapters.check_same_length(
                    lengths[0], len(t), y_name=f"y for {head.name!r}"
                )
        return lengths[0]

    def _model_inputs(self, graph, data):
        arrays = {}
        for node, d in zip(graph.inputs, data):
            arrays.update(node.model_arrays(d))
        return graph.pack_inputs(arrays)

    def _prepare_data(
        self,
        x,
        y,
        *,
        target,
        validation_split,
        validation_data,
        class_weight,
        sample_weight,
        refit_on_validation_data,
    ) -> PreparedData:
        """Stage 1: adapt and validate the data, split it, analyse it.

        Target statistics (a regression head's mean and variance) come from
        the training part only.
        """
        graph = self._make_graph()
        data, targets = self._split_xy(graph, x, y, target)
        if targets is None:
            raise DataError(
                "fit needs targets: pass y=, or target= with the name of the label "
                "column of a DataFrame or CSV file."
            )
        num_samples = self._check_lengths(graph, data, targets)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype="float32").copy()
            adapters.check_same_length(
                num_samples, len(sample_weight), y_name="sample_weight"
            )
        # Every target is checked before the split (an error names what the
        # user gave, not a part of it), and classes come from every label (a
        # class seen only in the validation part must still be encodable); a
        # regression head's statistics come from the training part, below.
        for head, t in zip(graph.heads, targets):
            head.analyse(t, argument="y")
        train_data, train_targets, train_weight, val_data, val_targets, val_weight = (
            self._split_validation(
                graph,
                (data, targets, sample_weight),
                num_samples,
                validation_split,
                validation_data,
            )
        )
        encoders = [
            head.encoder
            if head.task == "classification"
            else head.analyse(t, argument="y")
            for head, t in zip(graph.heads, train_targets)
        ]
        encoded = encoders[0].encode(train_targets[0])
        if encoders[0].encoding == "labels" and len(encoders[0].classes) > 2:
            # Class indices are not ordered: trees see one column per class.
            encoded = np.eye(len(encoders[0].classes))[np.asarray(encoded, int)]
        for node, d in zip(graph.inputs, train_data):
            node.analyse(d)
            node.analyse_target(d, encoded)
        for node, d in zip(graph.inputs, train_data):
            node.check(d, argument="x")
        for node, d in zip(graph.inputs, val_data):
            node.check(d, argument="validation data")
        search_data = SearchData(
            x_train=self._model_inputs(graph, train_data),
            y_train=graph.pack_targets(
                [e.encode(t) for e, t in zip(encoders, train_targets)]
            ),
            x_val=self._model_inputs(graph, val_data),
            y_val=graph.pack_targets(
                [e.encode(t) for e, t in zip(encoders, val_targets)]
            ),
            w_train=train_weight,
            w_val=val_weight,
            class_weight=class_weight,
            seed=0 if self.seed is None else int(self.seed),
            refit_on_validation=validation_data is None or refit_on_validation_data,
        )
        return PreparedData(graph=graph, encoders=encoders, data=search_data)

    def _split_validation(
        self, graph, given, num_samples, validation_split, validation_data
    ) -> tuple:
        """The training and validation parts, each `(data, targets, weights)`.

        The user's `validation_data` when given; otherwise a split of the data
        (stratified by class for a labelled classification, chronological
        where the task keeps order). `given` is `(data, targets, weights)`.
        """
        data, targets, sample_weight = given
        if validation_data is not None:
            return (data, targets, sample_weight) + tuple(
                self._given_validation(graph, validation_data)
            )
        head = graph.heads[0]
        stratify = None
        if head.task == "classification" and head.encoder.encoding == "labels":
            stratify = targets[0]
        train_idx, val_idx = validation_indices(
            num_samples,
            validation_split,
            stratify=stratify,
            seed=0 if self.seed is None else int(self.seed),
            shuffle=self._shuffle_split,
            gap=self._split_gap,
        )
        weights = [None, None]
        if sample_weight is not None:
            weights = [sample_weight[train_idx], sample_weight[val_idx]]
        return (
            [n.take(d, train_idx) for n, d in zip(graph.inputs, data)],
            [t[train_idx] for t in targets],
            weights[0],
            [n.take(d, val_idx) for n, d in zip(graph.inputs, data)],
            [t[val_idx] for t in targets],
            weights[1],
        )

    def _given_validation(self, graph, validation_data) -> tuple:
        """The user's `validation_data`, adapted: `(data, targets, weights)`."""
        if not isinstance(validation_data, tuple | list) or len(
            validation_data
        ) not in (2, 3):
            raise DataError(
                "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                "sample_weight_val). Received: "
                f"{adapters.describe(validation_data)}."
            )
        val_data, val_targets = self._split_xy(
            graph, validation_data[0], validation_data[1], None, argument="x_val"
        )
        self._check_lengths(graph, val_data, val_targets)
        val_weight = (
            None
            if len(validation_data) == 2
            else np.asarray(validation_data[2], "float32")
        )
        return val_data, val_targets, val_weight
