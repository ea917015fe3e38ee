"""Custom TFX components of the pipeline, class style (ComponentSpec + Executor) so they package cleanly for Kubeflow."""
