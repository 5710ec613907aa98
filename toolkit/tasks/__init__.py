from toolkit.tasks import translation  # noqa: F401  (registers the task)
