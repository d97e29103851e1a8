"""keras.io: Image classification with ConvMixer (examples/vision/convmixer.py).

Cut down: 32x32 images, width 16, depth 2; the page's activation_block (gelu + BatchNormalization),
conv_stem, conv_mixer_block (DepthwiseConv2D, residual Add, pointwise Conv2D) and Rescaling.
"""

import keras
from keras import layers


def activation_block(x):
    x = layers.Activation("gelu")(x)
    return layers.BatchNormalization()(x)


def conv_stem(x, filters: int, patch_size: int):
    x = layers.Conv2D(filters, kernel_size=patch_size, strides=patch_size)(x)
    return activation_block(x)


def conv_mixer_block(x, filters: int, kernel_size: int):
    x0 = x
    x = layers.DepthwiseConv2D(kernel_size=kernel_size, padding="same")(x)
    x = layers.Add()([activation_block(x), x0])
    x = layers.Conv2D(filters, kernel_size=1)(x)
    x = activation_block(x)
    return x


def get_conv_mixer_256_8(image_size=32, filters=16, depth=2, kernel_size=5, patch_size=2, num_classes=10):
    inputs = keras.Input((image_size, image_size, 3))
    x = layers.Rescaling(scale=1.0 / 255)(inputs)
    x = conv_stem(x, filters, patch_size)
    for _ in range(depth):
        x = conv_mixer_block(x, filters, kernel_size)
    x = layers.GlobalAvgPool2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def run_experiment(model):
    optimizer = keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.0001)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    checkpoint_callback = keras.callbacks.ModelCheckpoint(
        "/tmp/checkpoint.keras", monitor="val_accuracy", save_best_only=True
    )
    model.fit(None, validation_data=None, epochs=10, callbacks=[checkpoint_callback])
    return model


conv_mixer_model = get_conv_mixer_256_8()
model = run_experiment(conv_mixer_model)
