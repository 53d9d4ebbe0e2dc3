# make test: create .venv if missing, install the project with its test extra, run pytest.
# make run:  same set-up, then open the desktop app on the demo model, a demo image and Grad-CAM.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= out

.PHONY: install test run bench package clean

install: $(STAMP)

# Quantus, a test-only peer, requires opencv-python, which clashes with our headless OpenCV:
# it is installed without dependencies, plus the ones it really imports, pinned.
QUANTUS := quantus==0.6.0
QUANTUS_DEPS := pandas==3.1.1 scikit-image==0.26.0 cachetools==8.0.2 scipy==1.17.1 tqdm==4.70.1 matplotlib==3.11.2

# torch/torchvision are pinned first, and every later install runs under a constraints file that
# pins them, so that nothing else (timm, safetensors, the test peers) can pull another build.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
	printf 'torch==2.14.1\ntorchvision==0.29.1\n' > $(VENV)/constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(VENV)/constraints.txt -e '.[test]'
	$(PY) -m pip install --quiet --disable-pip-version-check -c $(VENV)/constraints.txt $(QUANTUS_DEPS)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(QUANTUS)
	touch $(STAMP)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

run: $(STAMP)
	$(VENV)/bin/saliency-studio gui

# Peers timed only by the benchmarks; --no-deps keeps them from pulling other builds.
BENCH_PEERS := torchray==1.0.0.2 torchcam==0.5.0

bench: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(BENCH_PEERS)
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done
	$(PY) bench/gpu_check.py
	$(PY) bench/gpu_timm.py
	$(PY) bench/report.py

# One-folder executable in dist/saliency-studio/ (PyInstaller), then its self-test.
package: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check 'pyinstaller>=6.10'
	$(PY) -m PyInstaller --noconfirm --clean --log-level WARN build.spec
	QT_QPA_PLATFORM=offscreen dist/saliency-studio/saliency-studio --self-test

clean:
	rm -rf $(VENV) build dist *.egg-info $(OUT)
