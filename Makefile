# Two commands do everything on a fresh machine:
#   make report   train (or continue / reuse the committed run), analyse, and render report/report.pdf
#   make test     the README's test command: unit tests plus every notebook executed by nbval in smoke mode
# Both create the virtualenv .venv from requirements.txt on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# MNIST folder: $MNIST_DATA_DIR if set, else ../shared/data when it exists, else data/ (torchvision downloads).
MNIST_DATA_DIR ?= $(if $(wildcard ../shared/data/MNIST/raw),$(abspath ../shared/data),)
export MNIST_DATA_DIR
# Report parameters, passed to every notebook that declares them (make report EPOCHS=1250 RETRAIN=True RUN_DIR=models)
EPOCHS ?= 1250
RUN_DIR ?= models
RETRAIN ?= False
MAX_MINUTES ?= None
NOTEBOOKS := 01_data_exploration 02_model_summary 03_train 04_latent_space 05_comparisons 06_label_budget
# Other run folders analysed (notebook 04) with the main run's judge before notebook 05 compares them (unfinished ones wait).
ANALYSE_RUNS ?= runs/course_protocol runs/seed1 runs/seed2 runs/seed3

.PHONY: all venv pdf-tools browser report notebooks pdf test lab benchmark clean-report

all: report

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed

# Executed notebooks appear in report/ only when complete (scripts/run_notebooks.py); CI's smoke switch is unset.
# A notebook whose notebook, code, parameters and input run folders are unchanged is reused, with one line saying so.
notebooks: venv
	env -u CI $(PY) scripts/run_notebooks.py --output-dir report --analyse-runs $(ANALYSE_RUNS) \
		-p run_dir $(RUN_DIR) -p epochs $(EPOCHS) -p retrain $(RETRAIN) -p max_minutes $(MAX_MINUTES)

# TeX, pandoc and poppler for nbconvert's PDF export (installed with apt-get when missing).
pdf-tools:
	bash scripts/install_pdf_tools.sh

# The paper: report/paper.md with its values from the run folders, the figures and the notebooks' tables.
pdf: venv pdf-tools
	$(PY) scripts/build_report.py --paper report/paper.md --references report/references.bib \
		--notebooks $(addprefix report/,$(addsuffix .ipynb,$(NOTEBOOKS))) --output report/report.pdf \
		--main-run $(RUN_DIR)

report: notebooks pdf

# Debian's chromium for tests/test_browser.py (installed with apt-get when /usr/bin/chromium is missing).
browser:
	bash scripts/install_browser.sh

# The README's test command: ruff (lint and import order), then pytest --nbval over tests/ and notebooks/
# (see pyproject.toml and conftest.py).
test: venv pdf-tools browser
	$(PY) -m ruff check .
	$(PY) -m pytest --nbval

# The interactive explorer (notebook 07) in JupyterLab.
lab: venv
	$(VENV)/bin/jupyter lab notebooks/07_explore.ipynb

benchmark: venv
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/notebook_times.py notebooks/04_latent_space.ipynb
	$(PY) benchmarks/analysis_parts.py
	$(PY) benchmarks/report_rebuild.py

clean-report:
	rm -rf report/*.ipynb report/report.pdf figures/*.png
