.PHONY: install test check bench

install:
	pip install torch==2.13.0 && pip install -e '.[test]'

test:
	python -m pytest -q

check:
	ruff check toolkit cli tests benchmarks

bench:
	python benchmarks/preprocess_multi30k.py
	python benchmarks/train_throughput.py work/multi30k/data-bin/de-en --arch transformer_small transformer_tiny
