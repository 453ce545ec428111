"""`sweepops dashboard` in a real headless browser (Debian's chromium + chromium-driver,
driven by selenium), with a sweep running on the real Slurm test cluster: the page shows the
progress, a learning curve gains points as the runs log (read from their offline wandb files
over one ssh connection), a failed run shows its reason, and a screenshot is kept
(tests/artifacts/dashboard.png). The server answers on 127.0.0.1 only."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from sweepops.records import ledger
from tests.conftest import git
from tests.integration.test_cluster_results import sweepops

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

#: Logs a point a second; the runs with fail=1 die at the end with an error in their log.
SLOW = """
import sys, time
import wandb
args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
run = wandb.init(config=args)
lr = float(args["lr"])
for step in range(int(args["steps"])):
    run.log({"loss": lr / (step + 1)})
    time.sleep(1.0)
if args["fail"] == "1":
    raise RuntimeError("the loss diverged (dashboard test)")
run.summary["loss"] = lr / int(args["steps"])
run.finish()
"""
EXPERIMENT = """program: dash/slow.py
method: grid
metric: {name: loss, goal: minimize}
parameters:
  lr: [0.1, 0.5]
  fail: [0, 1]
  steps: 25
_num_nodes: 2
"""


def listening(port: int) -> set[str]:
    """The local addresses a TCP port listens on (from /proc/net/tcp, state 0A: LISTEN)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, _, hexport = local.partition(":")
            if state == "0A" and int(hexport, 16) == port:
                out.add(addr)
    return out


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,2400",
        "--disable-gpu",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)


def wait_for(what, check, timeout: float = 180.0, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"the page never showed {what}"
        time.sleep(every)


@pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="chromium and chromium-driver are not "
    "installed (apt-get install chromium chromium-driver; .ci/run does)",
)
def test_the_dashboard_shows_a_running_sweep_live(repo, cluster, tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By

    from sweepops.results.dashboard import Dashboard
    from sweepops.results.live import Live

    (repo / "dash").mkdir()
    (repo / "dash" / "slow.py").write_text(SLOW)
    (repo / "experiments" / "dash.yml").write_text(EXPERIMENT)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a slow experiment")
    proc = sweepops(repo, [cluster], "deploy", "dash", "-e", f"clusters={cluster.name}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr
    (deploy,) = ledger.deploy_lines(repo)
    (sweep,) = deploy["sweeps"]

    monkeypatch.setenv("SWEEPOPS_INVENTORY", str(cluster.inventory))
    live = Live(repo, [deploy])
    board = Dashboard(live, port=0, interval=1.0)
    board.start()
    driver = browser()
    try:
        # only on loopback: the listening socket is bound to 127.0.0.1, nothing else
        assert board.server.server_address[0] == "127.0.0.1"
        assert listening(board.port) == {"0100007F"}, listening(board.port)
        driver.get(board.url)
        row = f"tr.sweep[data-sweep='{sweep['id']}']"

        def progress():
            cells = driver.find_elements(By.CSS_SELECTOR, f"{row} td")
            return [c.text for c in cells] if cells else None

        cells = wait_for("the sweep's progress", progress)
        assert cells[0] == f"{cluster.name}-login" and sweep["id"] in cells[1]

        def points() -> int:
            found = driver.find_elements(By.CSS_SELECTOR, "div.chart.curves")
            return int(found[0].get_attribute("data-points") or 0) if found else 0

        first = wait_for("a learning curve", points, timeout=240)
        later = wait_for("the curve growing", lambda: points() > first and points(), timeout=60)
        assert later > first

        def failure():
            found = driver.find_elements(By.CSS_SELECTOR, "li.failure .why")
            return found[0].text if found else None

        why = wait_for("a failed run's reason", failure, timeout=300)
        assert "failed" in why and "the loss diverged (dashboard test)" in why, why
        failed = int(
            wait_for(
                "the failed count",
                lambda: driver.find_element(By.CSS_SELECTOR, f"{row} td.failed").text,
            )
        )
        assert failed >= 1

        # a run's log, shown in the page when its row is clicked
        driver.find_elements(By.CSS_SELECTOR, "tr.run[data-state='failed']")[0].click()
        log = wait_for(
            "the run's log",
            lambda: (
                "diverged" in driver.find_element(By.ID, "log").text
                and driver.find_element(By.ID, "log").text
            ),
        )
        assert "RuntimeError" in log
        wait_for(
            "the varied parameters' plots",
            lambda: driver.find_elements(By.CSS_SELECTOR, "div.chart.vs[data-param='lr']"),
        )
        ARTIFACTS.mkdir(exist_ok=True)
        for path in (ARTIFACTS / "dashboard.png", tmp_path / "dashboard.png"):
            assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000
        # incremental: once nothing changes, a refresh moves only the end marker
        costs = live.hosts[f"{cluster.name}-login"].refreshes
        assert costs and min(b for b, _ in costs) < 100, costs[-5:]
    finally:
        driver.quit()
        board.stop()
        sweepops(repo, [cluster], "cancel", "dash")
