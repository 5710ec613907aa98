"""Export a trained checkpoint for another inference engine.

`ctranslate2`: a Transformer checkpoint as a CTranslate2 model directory, built through
CTranslate2's own model specification (`toolkit/export/ctranslate2.py`), and a small driver that
translates binarized ids with it the way `nmt generate` does (`toolkit/export/ctranslate2_search.py`).
The `ctranslate2` package is optional (`pip install 'nmt[ctranslate2]'`); nothing here imports it
before it is needed.
"""
