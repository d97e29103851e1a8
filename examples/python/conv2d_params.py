"""The single-convolution demos of a Conv2D parameter tutorial.

From seed 001, whose REPL lines build ``Conv2D(64, ..., name='conv1')`` on a 600x600x3 input and
print the output shape. Added to make it a complete file: one function with the demos'
arguments as parameters, and ``DEMOS``: each demo's arguments and the shape the page printed.
``python cli.py compile conv2d_params.py --arg kernel_size=3 --arg padding="'same'"`` picks one.
"""
from keras.layers import Conv2D, Input
from keras.models import Model

DEMOS = [
    ({"kernel_size": (1, 1), "strides": (1, 1)}, (None, 600, 600, 64)),
    ({"kernel_size": (2, 2), "strides": (1, 1)}, (None, 599, 599, 64)),
    ({"kernel_size": 2, "strides": (1, 1)}, (None, 599, 599, 64)),
    ({"kernel_size": 1, "strides": (2, 2)}, (None, 300, 300, 64)),
    ({"kernel_size": 1, "strides": (2, 2), "padding": "same"}, (None, 300, 300, 64)),
    ({"kernel_size": 3, "strides": (2, 2), "padding": "same"}, (None, 300, 300, 64)),
    ({"kernel_size": 3, "strides": (1, 1), "padding": "same"}, (None, 600, 600, 64)),
    ({"kernel_size": 3, "strides": (1, 1), "padding": "valid"}, (None, 598, 598, 64)),
]


def conv1(kernel_size=(1, 1), strides=(1, 1), padding="valid"):
    input = Input(shape=(600, 600, 3))
    x = Conv2D(64, kernel_size, strides=strides, padding=padding, name='conv1')(input)
    return Model(input, x)
