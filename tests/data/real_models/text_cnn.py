"""keras.io: Text classification from scratch (examples/nlp/text_classification_from_scratch.py).

Cut down: 200-word vocabulary, 16-dimensional embedding; the page's int64 token input, Embedding,
strided Conv1D, GlobalMaxPooling1D and the sigmoid head.
"""

import keras
import tensorflow as tf
from keras import layers

max_features = 200
embedding_dim = 16
sequence_length = 40

inputs = keras.Input(shape=(None,), dtype="int64")
x = layers.Embedding(max_features, embedding_dim)(inputs)
x = layers.Dropout(0.5)(x)
x = layers.Conv1D(32, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.Conv1D(32, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.GlobalMaxPooling1D()(x)
x = layers.Dense(32, activation="relu")(x)
x = layers.Dropout(0.5)(x)
predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)

model = keras.Model(inputs, predictions)
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
tf.random.set_seed(1)
