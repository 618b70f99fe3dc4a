"""The explorer in a real browser: JupyterLab serves a copy of notebook 07, chromium runs it, clicks redraw it.

Debian's chromium (scripts/install_browser.sh, run by ``make test``) is driven by Playwright for Python; Playwright's
own browser download cannot be reached here. The notebook runs on a tiny run folder made in a temporary folder
(untrained VAE and judge, made-up samplers), because tests run before the notebooks that train the smoke run.

``BROWSER_TEST_BREAK_CALLBACK=1`` appends a cell that makes every later widget callback raise: the test must then
fail (the proof that a broken callback cannot pass). ``BROWSER_TEST_RUN_DIR`` points it at a real run folder instead
of the tiny one (for the README's screenshot). Timings are printed and written to build/browser_test/timings.json.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import nbformat
import numpy as np
import pytest
import torch
from playwright.sync_api import expect, sync_playwright

import vae_utils as vu

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
NOTEBOOK = vu.paths.PROJECT_ROOT / "notebooks" / "07_explore.ipynb"
OUTPUT_DIR = vu.paths.PROJECT_ROOT / "build" / "browser_test"
STDERR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
TIMEOUT_MS = 60_000  # Run All on a busy 2-core machine takes seconds, not the 5 s Playwright's expect allows
# JupyterLab's news and update checks open a pop-up over the outputs; windowing would leave off-screen cells unrendered.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False, "fetchNews": "false"},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
BREAK_CALLBACK = '''import vae_utils.explore

def _broken(*args, **kwargs):
    raise RuntimeError("deliberately broken widget callback (BROWSER_TEST_BREAK_CALLBACK)")

vae_utils.explore.to_png = _broken  # the explorer is on screen already; every redraw from now on raises'''


@pytest.fixture(scope="module")
def chromium() -> Path:
    """The system chromium; under CI its absence fails the test rather than skipping it."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run 'bash scripts/install_browser.sh' (make test does)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    return CHROMIUM


def write_tiny_run(run_dir: Path) -> None:
    """A run folder the explorer can open in seconds: untrained VAE and judge, one unit Gaussian per digit, marked
    finished and analysed as the explorer's door check asks (its results files hold nothing the explorer reads)."""
    torch.manual_seed(0)
    model = vu.VAE(z_dim=15).eval()
    with torch.no_grad():  # untrained outputs sit near 0.5; a steeper last layer makes codes look different
        model.decoder[-1].weight.mul_(30)
    sampler = vu.DigitSampler(name="made-up mixture", means=3 * torch.eye(10, 15),
                              covariances=torch.eye(15).repeat(10, 1, 1), weights=torch.full((10,), 0.1),
                              component_to_digit=np.arange(10))
    run = vu.RunFolder(run_dir)
    run.path.mkdir(parents=True)
    stopped = vu.run.TrainingState(epoch=1, best_epoch=1, stop_reason=vu.run.Stop.EPOCH_LIMIT.reason(epochs=1))
    run.export(model, vu.TrainConfig(epochs=1), stopped)
    run.write_metrics({"config": vu.TrainConfig(epochs=1).to_dict()})
    run.write_latent_metrics({"note": "a made-up run for the browser test"})
    run.save_judge(vu.judge.DigitClassifier())
    vu.save_samplers(run, chosen=sampler, kmeans=sampler, temperature=0.9)


def notebook_copy(root: Path, run_dir: Path) -> Path:
    """Notebook 07 in ``root``, its parameters overridden as papermill would (never serve notebooks/: Lab autosaves)."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", []))
    override = f"# Parameters injected by tests/test_browser.py\nrun_dir = {str(run_dir)!r}"
    notebook.cells.insert(at + 1, nbformat.v4.new_code_cell(override))
    if os.environ.get("BROWSER_TEST_BREAK_CALLBACK") == "1":
        notebook.cells.append(nbformat.v4.new_code_cell(BREAK_CALLBACK))
    path = root / NOTEBOOK.name
    nbformat.write(notebook, path)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, server: subprocess.Popen, log: Path, seconds: float = 120) -> None:
    """Poll JupyterLab's status API (no proxy: it is on this machine) until it answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with opener.open(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {seconds:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[dict]:
    """A JupyterLab on 127.0.0.1 with a token, serving a temporary root that holds a copy of notebook 07."""
    tmp = tmp_path_factory.mktemp("lab")
    if os.environ.get("BROWSER_TEST_RUN_DIR"):
        run_dir = vu.paths.project_path(os.environ["BROWSER_TEST_RUN_DIR"])
    else:
        run_dir = tmp / "run"
        write_tiny_run(run_dir)
    root, settings = tmp / "root", tmp / "settings"
    root.mkdir()
    notebook_copy(root, run_dir)
    for name, values in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    port, token, log = free_port(), secrets.token_hex(16), tmp / "jupyter.log"
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
               f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}"]
    with open(log, "w") as handle:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                  start_new_session=True)  # its own group, so its kernels go with it
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/api/status?token={token}", server, log)
        yield {"url": f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}", "log": log}
    finally:
        server.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def no_error_output(page) -> None:
    """Fail with the traceback when any output (a cell's, or the explorer's error area) shows one."""
    errors = [text for text in page.locator(STDERR_OUTPUT).all_inner_texts() if "Traceback" in text or "Error" in text]
    assert not errors, "error output in the notebook:\n" + "\n".join(errors)[-3000:]


# Times, in the page's own clock, from the user's first input event to the picture's new src (Playwright's own
# round trips would otherwise be counted as redraw time).
ARM_TIMER = """img => {
    window.__input = null; window.__drawn = null;
    for (const type of ["mousedown", "keydown"])
        document.addEventListener(type, () => { window.__input ??= performance.now(); }, {capture: true, once: true});
    new MutationObserver((_, observer) => { window.__drawn = performance.now(); observer.disconnect(); })
        .observe(img, {attributes: true, attributeFilter: ["src"]});
}"""


def redraw(page, picture, act) -> float:
    """Do ``act()``, wait until ``picture`` shows another image or an error appears; return the seconds it took."""
    before = picture.get_attribute("src")
    picture.evaluate(ARM_TIMER)
    act()
    page.wait_for_function(
        "([img, before, sel]) => img.getAttribute('src') !== before || document.querySelector(sel) !== null",
        arg=[picture.element_handle(), before, STDERR_OUTPUT], timeout=TIMEOUT_MS)
    no_error_output(page)
    expect(picture).not_to_have_attribute("src", before)
    return page.evaluate("window.__drawn - window.__input") / 1000


def test_the_explorer_runs_in_jupyterlab_and_redraws_on_a_click_and_a_slider(chromium, lab):
    expect.set_options(timeout=TIMEOUT_MS)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    timings: dict[str, object] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(lab["url"])
            status = page.locator(".jp-Notebook-ExecutionIndicator")
            # The status bar names the kernel once it is connected; Run All before that asks to pick one.
            expect(page.get_by_role("button", name=re.compile(r"^Python 3.*\| Idle$"))).to_be_visible()

            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            start = time.perf_counter()
            page.locator('li[data-command="runmenu:run-all"]').click()
            digits_view = page.locator("img.widget-image").first
            expect(digits_view).to_be_visible()
            expect(page.locator(".jp-InputPrompt", has_text="[*]")).to_have_count(0)
            expect(status).to_have_attribute("data-status", "idle")
            timings["run_all_to_ready_s"] = round(time.perf_counter() - start, 2)
            no_error_output(page)

            digits_view.scroll_into_view_if_needed()
            clicks = [redraw(page, digits_view, page.locator(f'button.widget-toggle-button[data-value="{d}"]').click)
                      for d in (2, 5, 0, 3, 8)]
            timings["digit_click_to_new_picture_s"] = [round(s, 3) for s in clicks]
            page.screenshot(path=OUTPUT_DIR / "explorer_digits.png")

            page.get_by_role("tab", name="Latent dimensions").click()
            dims_view = page.locator("img.widget-image").nth(1)
            expect(dims_view).to_be_visible()
            handle = page.locator(".widget-slider .noUi-handle").locator("visible=true").first

            def drag() -> None:
                box = handle.bounding_box()
                page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                page.mouse.down()
                page.mouse.move(box["x"] + 120, box["y"] + box["height"] / 2, steps=4)
                page.mouse.up()

            timings["slider_drag_to_new_picture_s"] = round(redraw(page, dims_view, drag), 3)
            page.screenshot(path=OUTPUT_DIR / "explorer_dimensions.png")

            other_tabs = (("Interpolation", "to test #", "5", 2), ("Encode an image", "test image #", "3", 3))
            for tab, field, value, n in other_tabs:
                page.get_by_role("tab", name=tab).click()
                view = page.locator("img.widget-image").nth(n)
                entry = page.get_by_label(field, exact=True).locator("visible=true")
                timings[f"{tab.lower()}_entry_to_new_picture_s"] = round(
                    redraw(page, view, lambda: (entry.fill(value), entry.press("Enter"))), 3)
                page.locator(".jp-OutputArea-output .widget-tab").screenshot(
                    path=OUTPUT_DIR / f"explorer_{tab.split()[0].lower()}.png")
            page.get_by_role("tab", name="Digits on demand").click()
            page.locator(".jp-OutputArea-output .widget-tab").screenshot(path=OUTPUT_DIR / "explorer.png")
        finally:
            browser.close()
    (OUTPUT_DIR / "timings.json").write_text(json.dumps(timings, indent=1))
    print("browser test timings:", json.dumps(timings))
