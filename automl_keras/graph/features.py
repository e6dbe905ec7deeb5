"""What inputs hand to the blocks after their fixed preprocessing."""

from __future__ import annotations

from dataclasses import dataclass, field

import keras


@dataclass
class StructuredFeatures:
    """What a structured input hands to the blocks after its fixed preprocessing.

    Attributes:
        numerical: Imputed, normalised numbers (with missing-value indicators),
            shape `(batch, n)`, or None.
        categorical: `(indices, vocabulary_size)` per categorical column; indices
            have shape `(batch,)`, 0 is out-of-vocabulary or missing.
        bin_sources: `(index in values, column, layer_name)` per numerical
            column with quantile bins; `binned()` turns them into bin indices.
        values: The imputed, standardised numbers alone (no missing-value
            indicators), shape `(batch, len(columns))`, or None.
        missing: The missing-value indicators, shape `(batch, m)`, or None.
        columns: The `ColumnProfile` of each column of `values` (medians,
            spreads and bin edges in standardised units).
    """

    numerical: object = None
    categorical: list = field(default_factory=list)
    bin_sources: list = field(default_factory=list)
    values: object = None
    missing: object = None
    columns: list = field(default_factory=list)
    _binned: list | None = field(default=None, repr=False)

    def binned(self) -> list:
        """`(indices, number_of_bins)` per binned numerical column.

        The training quantile bin of each (imputed) value, for blocks that
        encode numbers like categories. The `Discretization` layers are built
        on the first call only, so a model that does not use the bins does not
        pay for building them.
        """
        if self._binned is None:
            self._binned = []
            for index, column, name in self.bin_sources:
                indices = keras.layers.Discretization(
                    bin_boundaries=column.bins, name=name
                )(self.values[:, index : index + 1])
                self._binned.append(
                    (keras.ops.squeeze(indices, -1), len(column.bins) + 1)
                )
        return self._binned


@dataclass
class TextFeatures:
    """What a text input hands to the blocks: the raw strings and their source.

    Attributes:
        strings: The string tensor, shape `(batch,)`.
        source: The `TextInput`, which knows the training vocabularies.
    """

    strings: object
    source: object
