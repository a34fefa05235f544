# Two commands do everything on a fresh machine: `make test` and `make demo`.
# Each builds .venv from nothing. torch is installed first and pinned to the CPU wheel, so that
# no later requirement pulls a CUDA build; torchvision is never installed (it breaks transformers
# on CPU-only machines).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0

.PHONY: venv test demo bench clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[test]"
	@if $(PY) -c "import torchvision" 2>/dev/null; then echo "torchvision must not be installed"; exit 1; fi
	touch $@

venv: $(VENV)/.installed

test: venv
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

demo: venv
	HF_HUB_OFFLINE=1 $(VENV)/bin/livr demo

# benchmarks/ (13 minutes on 2 CPU cores), then docs/performance.md from their results
bench: venv
	$(PY) benchmarks/training_step.py
	$(PY) benchmarks/training_step.py --growth --warmup 1 --repeats 2
	$(PY) benchmarks/real_size.py
	$(PY) benchmarks/training_step.py --attention sdpa-grouped --growth --growth-latents '' --warmup 1 --repeats 2 --out benchmarks/results/growth_grouped.json
	$(PY) benchmarks/real_size.py --attention sdpa-grouped --out benchmarks/results/real_size_grouped.json
	$(PY) benchmarks/masked_attention.py
	$(PY) benchmarks/evaluation.py
	$(PY) benchmarks/data_generation.py
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) runs
