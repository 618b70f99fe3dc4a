# Two commands do everything on a fresh machine:
#   make report   train (or reuse the committed weights), analyse, and render report/report.pdf
#   make test     unit tests plus every notebook executed by nbval in smoke mode
# Both create the virtualenv .venv from requirements.txt on first use.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# MNIST folder: $MNIST_DATA_DIR if set, else ../shared/data when it exists, else data/ (torchvision downloads).
MNIST_DATA_DIR ?= $(if $(wildcard ../shared/data/MNIST/raw),$(abspath ../shared/data),)
export MNIST_DATA_DIR
# Report parameters (override: make report EPOCHS=1250 RETRAIN=True RUN_DIR=models)
EPOCHS ?= 1250
RUN_DIR ?= models
RETRAIN ?= False
MAX_MINUTES ?= None
NOTEBOOKS := 01_data_exploration 02_model_summary 03_train 04_latent_space

.PHONY: all venv pdf-tools report notebooks pdf test benchmark clean-report

all: report

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed

# Executed notebooks go to report/; each one is run with the same run folder and data folder.
notebooks: venv
	mkdir -p report
	cd notebooks && for nb in $(NOTEBOOKS); do \
		case $$nb in \
			03_train) params="-p run_dir $(RUN_DIR) -p epochs $(EPOCHS) -p retrain $(RETRAIN) -p max_minutes $(MAX_MINUTES)" ;; \
			04_latent_space) params="-p run_dir $(RUN_DIR)" ;; \
			*) params="" ;; \
		esac; \
		env -u CI ../$(PY) -m papermill --cwd . $$nb.ipynb ../report/$$nb.ipynb $$params || exit 1; \
	done

# TeX, pandoc and poppler for nbconvert's PDF export (installed with apt-get when missing).
pdf-tools:
	bash scripts/install_pdf_tools.sh

pdf: venv pdf-tools
	$(PY) scripts/build_report.py --notebooks $(addprefix report/,$(addsuffix .ipynb,$(NOTEBOOKS))) \
		--intro report/intro.md --output report/report.pdf

report: notebooks pdf

test: venv pdf-tools
	$(PY) -m pytest tests --nbval-lax notebooks

benchmark: venv
	$(PY) benchmarks/train_throughput.py

clean-report:
	rm -rf report/*.ipynb report/report.pdf figures/*.png
