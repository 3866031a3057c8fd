"""A data engineer's first day, in a real browser: `kgflow up --port <non-default>`, log in to the Airflow
UI, submit the knowledge_ingest trigger form with its defaults, and the real scheduler runs it to success.
`kgflow trigger` drives the same Airflow through its REST API; `kgflow down` leaves no process and no port.

Debian's Chromium, driven by Selenium through Debian's chromedriver. Screenshots of every step are kept in
var/test-artifacts/airflow-ui/ (CI keeps them as artefacts).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgflow.config import REPO_ROOT
from kgflow.netutil import free_port, port_free

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("chromedriver") is None, reason="scripts/install.sh installs it")]

ARTIFACTS = REPO_ROOT / "var" / "test-artifacts" / "airflow-ui"
KGFLOW = str(Path(sys.executable).parent / "kgflow")
RUN_TIMEOUT_S = 900


def _env(home: Path) -> dict[str, str]:
    """A home of its own: nothing of the test session's Airflow or kgflow configuration leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "KGFLOW_"))}
    return {**env, "KGFLOW_HOME": str(home), "KGFLOW_TORCH_THREADS": "1",
            "KGFLOW_GOLDEN_QUESTIONS": str(home / "no-golden-file.json")}


def _kgflow(env: dict, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([KGFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("first-day")
    env = _env(home)
    gen = ("from pathlib import Path; from kgflow.corpus.generator import generate_corpus; "
           f"generate_corpus(Path({str(home / 'landing')!r}), n_docs=6, bad_files=False)")
    subprocess.run([sys.executable, "-c", gen], env=env, check=True, timeout=120)
    port = free_port()
    up = _kgflow(env, "up", "--port", str(port), timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    password = json.loads((home / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())["admin"]
    info = {"home": home, "env": env, "port": port, "url": f"http://127.0.0.1:{port}", "password": password,
            "pid": int((home / "run" / "airflow.pid").read_text()), "up": up.stdout}
    yield info
    _kgflow(env, "down")


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-quic", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.implicitly_wait(15)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def _shot(driver, name: str) -> None:
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _api(airflow):
    from kgflow.orchestration.airflow_api import AirflowApi

    api = AirflowApi(airflow["url"], "admin", airflow["password"])
    api.login()
    return api


def test_up_prints_the_ui_address_on_the_port_asked_for(airflow):
    assert f"http://127.0.0.1:{airflow['port']}" in airflow["up"]


@pytest.fixture(scope="module")
def triggered_in_the_ui(airflow, browser) -> dict:
    """Log in, open knowledge_ingest, submit the trigger form exactly as it opens."""
    from selenium.webdriver.common.by import By

    browser.get(airflow["url"] + "/")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(airflow["password"])
    _shot(browser, "01-login")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    browser.find_element(By.CSS_SELECTOR, "button[aria-label=Admin]")  # logged in: the app's navigation
    browser.get(airflow["url"] + "/dags/knowledge_ingest")
    browser.find_element(By.CSS_SELECTOR, "[data-testid=trigger-dag-button]").click()
    submit = browser.find_element(By.CSS_SELECTOR, "[data-testid=trigger-dag-submit]")
    browser.execute_script("arguments[0].scrollIntoView()", submit)
    _shot(browser, "02-trigger-form-defaults")
    enabled = submit.is_enabled()
    submit.click()
    deadline = time.monotonic() + 30
    while "/runs/" not in browser.current_url and time.monotonic() < deadline:
        time.sleep(0.5)
    run_id = browser.current_url.split("/runs/", 1)[-1]
    _shot(browser, "03-run-started")
    with _api(airflow) as api:
        state = api.follow("knowledge_ingest", run_id, timeout_s=RUN_TIMEOUT_S) if "/runs/" in browser.current_url \
            else None
        tasks = api.task_states("knowledge_ingest", run_id) if state else {}
    browser.refresh()
    browser.find_element(By.CSS_SELECTOR, "[data-testid=trigger-dag-button]")
    time.sleep(2)  # the grid fetches its states after the page shell
    _shot(browser, "04-run-finished")
    return {"enabled": enabled, "run_id": run_id, "state": state, "tasks": tasks}


def test_the_trigger_form_submits_with_its_defaults(triggered_in_the_ui):
    assert triggered_in_the_ui["enabled"] and triggered_in_the_ui["run_id"].startswith("manual__")


def test_the_run_triggered_in_the_ui_succeeds_under_the_real_scheduler(triggered_in_the_ui):
    assert triggered_in_the_ui["state"] == "success", triggered_in_the_ui["tasks"]


def test_the_knowledge_base_is_published_by_the_scheduler_s_runs(airflow, triggered_in_the_ui):
    # unpausing on trigger (the form's default) also schedules the latest interval (catchup is off): one of
    # the two runs ingests the corpus, the other finds nothing new; both must succeed and one must publish
    with _api(airflow) as api:
        runs = api._request("GET", "/api/v2/dags/knowledge_ingest/dagRuns")["dag_runs"]
    assert {r["state"] for r in runs} == {"success"}
    assert (airflow["home"] / "index" / "CURRENT").exists()


def _page_text(browser, url: str, showing: str, shot: str, timeout_s: float = 20) -> str:
    """The text of a page once it shows `showing` (the React app renders after its data arrives)."""
    from selenium.webdriver.common.by import By

    browser.get(url)
    body = browser.find_element(By.TAG_NAME, "body")
    deadline = time.monotonic() + timeout_s
    while showing not in body.text and time.monotonic() < deadline:
        time.sleep(0.5)
    _shot(browser, shot)
    return body.text


def test_the_connections_kgflow_uses_are_listed_in_the_ui(airflow, browser, triggered_in_the_ui):
    text = _page_text(browser, airflow["url"] + "/connections", "neo4j_default", "05-connections")
    assert "spark_default" in text and "neo4j_default" in text


def test_model_refresh_shows_its_weekly_cron_as_its_schedule(airflow, browser, triggered_in_the_ui):
    text = _page_text(browser, airflow["url"] + "/dags/model_refresh", "0 3 * * 0", "06-model-refresh-schedule")
    assert "0 3 * * 0" in text, text[:600]


@pytest.fixture(scope="module")
def dry_run(airflow, triggered_in_the_ui) -> dict:
    """`kgflow trigger knowledge_ingest --conf '{"dry_run": true}'`: its output and the run's id."""
    r = _kgflow(airflow["env"], "trigger", "knowledge_ingest", "--conf", '{"dry_run": true}', timeout=RUN_TIMEOUT_S)
    run_id = next(ln.split()[2] for ln in r.stdout.splitlines() if ln.startswith("knowledge_ingest run "))
    return {"result": r, "run_id": run_id}


def test_kgflow_trigger_runs_a_dag_with_a_conf_and_follows_it_to_success(dry_run):
    r = dry_run["result"]
    assert r.returncode == 0, r.stdout + r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert "discover: success" in r.stdout and f"run {dry_run['run_id']}: success" in last


def test_kgflow_trigger_says_how_many_tasks_skipped_and_why(dry_run):
    """The dry run comes after the UI's run has ingested the corpus: its first skip says there is nothing new.
    Before: a bare "success"."""
    last = dry_run["result"].stdout.strip().splitlines()[-1]
    assert "success, 6 of 8 tasks skipped: nothing to do: no new or changed documents" in last, last


def test_a_skipped_task_s_log_in_the_ui_says_why_it_skipped(airflow, browser, dry_run):
    """Before: a skipped task's log was empty."""
    url = f"{airflow['url']}/dags/knowledge_ingest/runs/{dry_run['run_id']}/tasks/publish"
    text = _page_text(browser, url, "skipped: dry run", "07-skipped-task-log", timeout_s=40)
    assert "skipped: dry run: staged and validated only, nothing published" in text, text[-800:]


def test_everything_kgflow_up_started_listens_on_loopback_only(airflow, dry_run):
    """Before: Airflow's log servers and the scheduler's health check listened on 0.0.0.0:8793, 8794 and 8974,
    and a second home on the machine collided there. (After a run: every component has started by then.)"""
    import psutil

    root = psutil.Process(airflow["pid"])
    pids = {root.pid, *(p.pid for p in root.children(recursive=True))}
    listening = {(c.laddr.ip, c.laddr.port) for c in psutil.net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN and c.pid in pids}
    assert (("127.0.0.1", airflow["port"]) in listening and {ip for ip, _ in listening} == {"127.0.0.1"}
            and not {8793, 8794, 8974} & {port for _, port in listening}), listening


def test_kgflow_trigger_refuses_a_conf_key_the_dag_does_not_have_before_any_run_starts(airflow):
    """Before: '{"dryrun": true}' (a typo of dry_run) silently ran a real ingest."""
    r = _kgflow(airflow["env"], "trigger", "knowledge_ingest", "--conf", '{"dryrun": true}')
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1, r.stdout
    assert "unknown param 'dryrun' (did you mean 'dry_run'?)" in lines[0] and " run " not in lines[0]


def test_kgflow_trigger_refuses_a_paused_dag_saying_how_to_unpause_it(airflow):
    r = _kgflow(airflow["env"], "trigger", "kb_backup")
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) <= 2 and "paused" in r.stdout and "--unpause" in r.stdout


def test_kgflow_trigger_names_an_unknown_dag(airflow):
    r = _kgflow(airflow["env"], "trigger", "no_such_dag")
    assert r.returncode == 1 and "no DAG 'no_such_dag'" in r.stdout


def test_down_leaves_no_process_and_no_port(airflow, triggered_in_the_ui):
    r = _kgflow(airflow["env"], "down")
    assert r.returncode == 0 and "airflow: stopped" in r.stdout
    group = subprocess.run(["ps", "-eo", "pgid=,stat="], capture_output=True, text=True).stdout.split("\n")
    alive = [ln for ln in group if ln.split() and int(ln.split()[0]) == airflow["pid"] and "Z" not in ln.split()[1]]
    assert not alive and port_free(airflow["port"])
