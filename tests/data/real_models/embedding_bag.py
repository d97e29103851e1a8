"""TensorFlow tutorial: Word embeddings (tensorflow/docs site/en/text/guide/word_embeddings.ipynb).

Cut down: the Sequential Embedding + GlobalAveragePooling1D + Dense text classifier, 500 words.
"""

import tensorflow as tf
from tensorflow.keras import Sequential
from tensorflow.keras.layers import Dense, Embedding, GlobalAveragePooling1D

vocab_size = 500
embedding_dim = 16
sequence_length = 12

model = Sequential(
    [
        tf.keras.Input(shape=(sequence_length,), dtype="int32"),
        Embedding(vocab_size, embedding_dim, name="embedding"),
        GlobalAveragePooling1D(),
        Dense(16, activation="relu"),
        Dense(1),
    ]
)
tensorboard_callback = tf.keras.callbacks.TensorBoard(log_dir="logs")
model.compile(optimizer="adam", loss=tf.keras.losses.BinaryCrossentropy(from_logits=True), metrics=["accuracy"])
model.fit(None, validation_data=None, epochs=15, callbacks=[tensorboard_callback])
