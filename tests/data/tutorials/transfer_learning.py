"""A cut-down "Transfer learning & fine-tuning" (keras.io): a frozen application as a backbone,
its preprocess_input inside the model, a new head, then fine-tuning lines."""

import keras
from keras.applications import mobilenet_v2

IMG_SIZE = 64

base_model = keras.applications.MobileNetV2(
    weights="imagenet",
    input_shape=(IMG_SIZE, IMG_SIZE, 3),
    include_top=False,
)
base_model.trainable = False

inputs = keras.Input(shape=(IMG_SIZE, IMG_SIZE, 3))
x = mobilenet_v2.preprocess_input(inputs)
x = base_model(x, training=False)
x = keras.layers.GlobalAveragePooling2D()(x)
x = keras.layers.Dropout(0.2)(x)
outputs = keras.layers.Dense(5)(x)
model = keras.Model(inputs, outputs)

model.summary(show_trainable=True)
model.compile(
    optimizer=keras.optimizers.Adam(),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
model.fit(None, epochs=2)

base_model.trainable = True
model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
model.fit(None, epochs=1)
