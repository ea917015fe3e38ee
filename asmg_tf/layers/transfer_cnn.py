"""SML's transfer network: a small CNN that merges a previous and a newly learned parameter row into one."""

from __future__ import annotations

import tensorflow as tf

from asmg_tf.layers.registry import fresh_initializer, register


@register
class TransferCNN(tf.keras.layers.Layer):
    """W = f(W_prev, W_new), row by row (SML, Zhang et al. SIGIR 2020; docs/method.md §4.5).

    For every row (prev, new) in R^d, with g = GELU (erf form):

        s   = [prev; new; prev * new / (||prev|| + eps)]          a 3 x d "image"
        h1  = g(conv 3x1, n1 channels, no bias)(s)                [d, n1]   h1[j, c] = g(sum_k s[k, j] F1[k, c])
        h2  = g(conv 1x1, n2 channels, no bias)(h1)               [d, n2]   h2[j, e] = g(sum_c h1[j, c] F2[c, e])
        z   = g(flatten_{n2-major}(h2) K1 + b1)                   [l1]
        out = z K2 + b2                                           [d]

    The same weights serve every row of the input: one network per embedding table is shared by all its rows,
    and a dense tensor is flattened into a single row of its own network. Weights keep the paper's shapes
    (F1 [3, 1, 1, n1], F2 [n1, 1, 1, n2], K1 [n2 d, l1], K2 [l1, d]) and TF1's default Glorot-uniform on those
    shapes, biases included, so the conv fans include the kernel height as in the paper's code.

    Args:
        n1, n2: channels of the two convolutions (paper: 10, 5 for embeddings; 5, 3 for MLP tensors).
        l1: width of the hidden dense layer (paper: 20 for embeddings; per tensor for the MLP).
        epsilon: added to ||prev|| (1e-15 in the paper's code).

    Call args:
        prev: ``[R, d]`` previous parameters (a constant: callers usually stop its gradient).
        new: ``[R, d]`` newly learned parameters.

    Returns:
        ``[R, d]``.

    Example:
        >>> f = TransferCNN(n1=10, n2=5, l1=20)
        >>> f(tf.random.normal([100, 8]), tf.random.normal([100, 8])).shape  # TensorShape([100, 8])
    """

    def __init__(self, n1: int = 10, n2: int = 5, l1: int = 20, epsilon: float = 1e-15, **kwargs):
        super().__init__(**kwargs)
        if min(int(n1), int(n2), int(l1)) <= 0:
            raise ValueError(f"n1, n2 and l1 must be positive, got {n1}, {n2}, {l1}")
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        self.n1, self.n2, self.l1 = int(n1), int(n2), int(l1)
        self.epsilon = float(epsilon)

    def build(self, input_shape) -> None:
        d = tf.TensorShape(input_shape)[-1]  # the shape of ``prev`` (Keras builds from the first call argument)
        if d is None:
            raise ValueError("TransferCNN needs a known last dimension d")
        self.dim = int(d)

        def weight(name, shape):
            return self.add_weight(name, shape=shape, initializer=fresh_initializer("glorot_uniform"), trainable=True)

        self.filter1 = weight("cnn_filter1", [3, 1, 1, self.n1])
        self.filter2 = weight("cnn_filter2", [self.n1, 1, 1, self.n2])
        self.fc1_kernel = weight("fc1_kernel", [self.n2 * self.dim, self.l1])
        self.fc1_bias = weight("fc1_bias", [self.l1])
        self.fc2_kernel = weight("fc2_kernel", [self.l1, self.dim])
        self.fc2_bias = weight("fc2_bias", [self.dim])
        super().build(input_shape)

    def call(self, prev: tf.Tensor, new: tf.Tensor) -> tf.Tensor:
        gelu = lambda x: tf.nn.gelu(x, approximate=False)  # noqa: E731
        norm = tf.sqrt(tf.reduce_sum(prev * prev, axis=-1, keepdims=True))  # [R, 1]
        image = tf.stack([prev, new, prev * new / (norm + self.epsilon)], axis=1)  # [R, 3, d]
        h1 = gelu(tf.einsum("rkd,kc->rdc", image, self.filter1[:, 0, 0, :]))  # [R, d, n1]
        h2 = gelu(tf.einsum("rdc,ce->red", h1, self.filter2[:, 0, 0, :]))  # [R, n2, d] (n2-major, as the paper)
        z = gelu(tf.matmul(tf.reshape(h2, [-1, self.n2 * self.dim]), self.fc1_kernel) + self.fc1_bias)
        return tf.matmul(z, self.fc2_kernel) + self.fc2_bias

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "n1": self.n1, "n2": self.n2, "l1": self.l1, "epsilon": self.epsilon}
