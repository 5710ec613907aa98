from toolkit.optim import lr_schedulers, optimizers  # noqa: F401  (register themselves)
