"""Tasks: what is trained on and how (the seam is toolkit/tasks/base.py)."""

from __future__ import annotations

import dataclasses

from toolkit.tasks import masked_lm, translation, unsupervised  # noqa: F401  (register the tasks)


def inference_task(config: dict, data: str, source_lang: str, target_lang: str):
    """The checkpoint's task over DATA for one direction, as generate and translate use it.

    A task this process does not know (a `--user-dir` one not imported with --user-dir) reads its
    data as `translation` does.
    """
    from toolkit.registry import TASKS, config_from_dict

    recorded = config.get("task") or {}
    name = recorded.get("name", "translation")
    entry = TASKS.entries.get(name) or TASKS.entries["translation"]
    params = config_from_dict(entry.config_cls, recorded.get("params") or {}) if name in TASKS.entries else None
    params = params or entry.config_cls()
    given = {"data": data, "source_lang": source_lang, "target_lang": target_lang}
    names = {f.name for f in dataclasses.fields(params)}
    params = dataclasses.replace(params, **{k: v for k, v in given.items() if k in names})
    return entry.cls(params)
