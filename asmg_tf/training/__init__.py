"""Training, evaluation and state primitives used by the protocol and every update method."""
