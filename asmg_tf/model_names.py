"""The shipped rankers' names, importable without TensorFlow (command lines check them before it loads; the models
package imports TensorFlow). ``asmg_tf.models.registry`` registers the same names; a test keeps the two equal.
"""

DEFAULT_RANKER = "embedding_mlp"
#: name -> (module that registers it, one line on what it is)
SHIPPED_RANKERS = {
    "embedding_mlp": ("asmg_tf.models.embedding_mlp", "the paper's Embedding&MLP (masked-mean history, MLP tower)"),
    "dcn_v2": ("asmg_tf.models.dcn_v2", "DCN-v2: the same inputs through tfrs Cross layers, then the MLP tower"),
    "din": ("asmg_tf.models.din", "DIN-style: the history pooled by target attention to the candidate item"),
}
