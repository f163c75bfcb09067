"""A class in a real browser: the facilitator's page with the three learners, and a learner's JupyterLab
opening the notebooks with their local cloud running and the facilitator's note on top.

The class is tests/support/class_fixtures.py's (notebooks 00-04 already run by its three learners).
Screenshots: build/screenshots/class-facilitator.png, class-learner-lab.png.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

pytestmark = pytest.mark.browser

NOTE = "Break until 10:30: finish notebook 04 first"


def _log_in(page, hub, name, then="/hub/home"):
    page.goto(f"{hub.url}/hub/login?next={then}")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", hub.password(name))
    page.click("[type=submit]")


@contextmanager
def shown_on_failure(page, path):
    """What the page showed when a step failed, for the one who reads the failure."""
    try:
        yield
    except Exception:
        page.screenshot(path=str(path))
        raise


def test_the_facilitator_sees_three_learners_and_broadcasts_a_note_a_learner_sees(class_run, browser, screenshots):
    facilitator = browser.new_context(viewport={"width": 1500, "height": 700})
    page = facilitator.new_page()
    with shown_on_failure(page, screenshots / "class-facilitator-failure.png"):
        _facilitator_steps(page, class_run, screenshots)
    facilitator.close()

    learner = browser.new_context(viewport={"width": 1400, "height": 800})
    page = learner.new_page()
    with shown_on_failure(page, screenshots / "class-learner-failure.png"):
        _learner_steps(page, class_run, screenshots)
    learner.close()


def _facilitator_steps(page, class_run, screenshots):
    hub = class_run.hub
    _log_in(page, hub, "facilitator", then="/services/facilitator/")  # the hub's OAuth, then the page
    page.wait_for_selector("#board")
    rows = page.locator("#board tbody tr")
    assert rows.count() == 3
    for learner in class_run.learners:
        assert page.locator(f"tr[data-learner='{learner.name}']").count() == 1
    stuck = page.locator("tr.stuck")
    assert stuck.count() == 1 and stuck.get_attribute("data-learner") == class_run.cleo.name
    assert "STUCK" in stuck.inner_text()
    assert page.locator(f"tr[data-learner='{class_run.ben.name}'] td.failed").count() == 5
    assert page.locator(f"tr[data-learner='{class_run.ana.name}'] td.passed").count() == 5
    page.fill("textarea[name=note]", NOTE)
    page.click("form button[type=submit]")
    page.wait_for_selector(f"text=Shown to every learner now: {NOTE}")
    page.screenshot(path=str(screenshots / "class-facilitator.png"), full_page=True)
    page.goto(f"{hub.url}/services/facilitator/learner/{class_run.ben.name}")
    assert page.locator("#answer").inner_text() == "allow", "ben's last wrong answer: Approve in 04"
    choose = page.locator("details[data-exercise='ChooseAction']")
    choose.locator("summary").click()
    assert '"$.action"' in choose.locator("pre").inner_text()
    page.screenshot(path=str(screenshots / "class-facilitator-learner.png"), full_page=True)


def _learner_steps(page, class_run, screenshots):
    hub = class_run.hub
    _log_in(page, hub, class_run.ana.name, then=f"/user/{class_run.ana.name}/lab/tree/notebooks/00_setup_check.ipynb")
    page.wait_for_url(f"**/user/{class_run.ana.name}/lab/**", timeout=120_000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=120_000)
    page.locator(".jp-Notebook .jp-RenderedMarkdown h1").first.wait_for(timeout=60_000)
    banner = page.locator(".jp-NotebookPanel .workshop-class-banner")
    banner.locator(".workshop-class-cloud", has_text="Local cloud: up").wait_for(timeout=60_000)
    banner.locator(".workshop-class-note", has_text=NOTE).wait_for(timeout=60_000)
    assert page.locator(".lm-TabBar-tabLabel", has_text="00_setup_check.ipynb").count() >= 1
    # the kernel is up: the status bar says so (the first "Idle" in the page is a hidden label for screen readers)
    page.locator("#jp-main-statusbar").get_by_text("Idle", exact=False).first.wait_for(timeout=90_000)
    page.screenshot(path=str(screenshots / "class-learner-lab.png"))
    # a learner does not get into the facilitator's view
    answer = page.goto(f"{hub.url}/services/facilitator/")
    assert answer.status == 403
