"""The console (SPEC §14) in a real browser: headless Chromium (Debian's `chromium`, installed by
`make browser`) driven by Playwright against `make run`'s stack.

One browser for the module, a fresh context (so an empty sessionStorage) per test. Every test
also checks that each request the page made went to the stack's own origin, and that the
page's Content-Security-Policy reported no violation (an inline script or handler from a
receiver's answer rendered as HTML would be one).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.counters import assert_counters_add_up
from tests.e2e.conftest import RunningStack, Tenant
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
EVENT = "content_item.published"
# What a hostile receiver answers: shown as these characters, never run.
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
ITEMS = 6
# Set to a path to save a screenshot of the job view there (docs/console.png in the README).
SCREENSHOT = os.environ.get("CONSOLE_SCREENSHOT")
# Records the page's CSP violations, before any of its own scripts runs.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


# ---------------------------------------------------------------------------------------------
# The browser, and a tenant with a job that has failures
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` installs Debian's chromium (as root)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
    try:
        yield launched
    finally:
        launched.close()


class Console:
    """A page of the console in a fresh browser context, and what it requested."""

    def __init__(self, page: Page, stack: RunningStack) -> None:
        self.page = page
        self.stack = stack
        self.requests: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))

    def open(self) -> Any:
        return self.page.goto(f"{self.stack.url}/console")

    def sign_in(self, token: str) -> None:
        # Keyboard only: the field, the token, Enter.
        self.page.get_by_label("Tenant token").focus()
        self.page.keyboard.type(token)
        self.page.keyboard.press("Enter")

    def open_job(self, job_id: str) -> None:
        button = self.page.get_by_role("button", name=f"Open job {job_id}")
        button.focus()
        self.page.keyboard.press("Enter")
        expect(self.page.locator("#job-title")).to_have_text(f"Job {job_id}")

    def session_token(self) -> str | None:
        return self.page.evaluate("() => sessionStorage.getItem('webhook-resend.token')")

    def csp_violations(self) -> list[str]:
        return self.page.evaluate("() => window.__cspViolations")


@pytest.fixture
def console(browser: Browser, stack: RunningStack) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.set_default_timeout(15_000)
    opened = Console(page, stack)
    try:
        yield opened
        # Nothing left the page's origin: no CDN, no third party, no beacon.
        outside = [url for url in opened.requests if not url.startswith(f"{stack.url}/")]
        assert outside == []
        assert opened.csp_violations() == []
    finally:
        context.close()


def _webhook(client: httpx.Client, url: str) -> str:
    answer = client.post("/webhooks", json={"urls": [url], "events": [EVENT]})
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


@pytest.fixture(scope="module")
def shop(
    create_tenant: Callable[[str], Tenant],
    receiver: Receiver,
    wait_for_resend: Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]],
) -> dict[str, Any]:
    """A tenant, a webhook whose receiver answers 200 and one whose receiver answers 500 with
    HOSTILE, six items, and a completed resend of the items: 6 pairs delivered, 6 failed."""
    tenant = create_tenant("console")
    good, bad = receiver.new_path("good"), receiver.new_path("bad")
    receiver.script(bad, [(500, {"content-type": "text/html"}, HOSTILE.encode())])
    webhooks = {
        "good": _webhook(tenant.client, receiver.url + good),
        "bad": _webhook(tenant.client, receiver.url + bad),
    }
    items = [str(uuid.uuid4()) for _ in range(ITEMS)]
    for item in items:
        answer = tenant.client.put(
            f"/content_items/{item}", json={"model": "Post", "tags": ["console"], "payload": {"title": "t"}}
        )
        assert answer.status_code == 201, answer.text
    started = tenant.client.post("/resends", json={"event": EVENT, "item_ids": items})
    assert started.status_code == 202, started.text
    job, _ = wait_for_resend(tenant.client, started.json()["id"])
    assert (job["delivered"], job["failed"]) == (ITEMS, ITEMS), job
    return {"tenant": tenant, "webhooks": webhooks, "items": items, "job": job}


def _jobs(client: httpx.Client) -> list[dict[str, Any]]:
    answer = client.get("/resends", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


# ---------------------------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------------------------
def test_console_signs_in_with_the_token_kept_in_session_storage_only(
    console: Console, shop: dict[str, Any]
) -> None:
    page, tenant, job = console.page, shop["tenant"], shop["job"]

    # Given no token: the sign-in form, no data, no API call
    response = console.open()
    headers = response.all_headers()
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    refused = httpx.post(f"{console.stack.url}/console", timeout=30)
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET, HEAD")
    assert httpx.get(f"{console.stack.url}/console/console.py", timeout=30).status_code == 404
    expect(page.get_by_label("Tenant token")).to_be_visible()
    expect(page.locator("#signed-in")).to_be_hidden()
    assert [url for url in console.requests if "/resends" in url] == []

    # A refused token: the API's message, nothing kept
    console.sign_in("wr_nobody_nothing")
    expect(page.locator("#sign-in-error")).to_contain_text("401")
    assert console.session_token() is None

    # The tenant's token: its jobs, with a progress bar
    console.sign_in(tenant.token)
    row = page.locator(f"#jobs-body tr[data-job='{job['id']}']")
    expect(row).to_be_visible()
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", str(2 * ITEMS))
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuemax", str(2 * ITEMS))
    expect(row).to_contain_text("completed")
    assert console.session_token() == tenant.token
    assert page.evaluate("() => localStorage.length") == 0
    assert page.context.cookies() == []
    assert tenant.token not in page.url
    assert all(tenant.token not in url for url in console.requests)
    # Every control has a label
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter((c) => !c.labels.length && !c.getAttribute('aria-label')).map((c) => c.id)"""
    )
    assert unlabelled == []

    # Sign out: the token and the data are gone
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Tenant token")).to_be_visible()
    expect(page.locator("#jobs-body tr")).to_have_count(0)
    assert console.session_token() is None


def test_console_shows_a_jobs_failures_with_the_receivers_answer_as_text(
    console: Console, shop: dict[str, Any]
) -> None:
    page, job = console.page, shop["job"]
    console.open()
    console.sign_in(shop["tenant"].token)

    console.open_job(job["id"])
    expect(page.locator("#job-counters [data-field='failed'] dd")).to_have_text(str(ITEMS))
    expect(page.locator("#job-counters [data-field='delivered'] dd")).to_have_text(str(ITEMS))
    # Paged with the API's cursor: 12 records, 10 a page
    page.get_by_label("Per page").select_option("10")
    expect(page.locator("#deliveries-body tr")).to_have_count(10)
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#deliveries-body tr")).to_have_count(2 * ITEMS - 10)
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    page.get_by_role("button", name="Previous page").click()
    expect(page.locator("#deliveries-body tr")).to_have_count(10)
    page.get_by_label("Per page").select_option("50")
    page.get_by_label("Delivery status").select_option("failed")

    rows = page.locator("#deliveries-body tr")
    expect(rows).to_have_count(ITEMS)
    for index in range(ITEMS):
        expect(rows.nth(index).locator("pre.answer")).to_have_text(HOSTILE)
        expect(rows.nth(index)).to_contain_text("500")
        expect(rows.nth(index)).to_contain_text("/bad")
    # The answer stayed text: no element of it exists, none of its scripts ran
    assert page.locator("#deliveries-body img, #deliveries-body script").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    # A reload keeps the tab's sign-in and opens the same job (its id is in the fragment)
    assert page.url.endswith(f"#job={job['id']}")
    page.reload()
    expect(page.locator("#job-title")).to_have_text(f"Job {job['id']}")
    expect(page.locator("#job-counters [data-field='failed'] dd")).to_have_text(str(ITEMS))
    page.get_by_label("Delivery status").select_option("failed")
    expect(page.locator("#deliveries-body tr")).to_have_count(ITEMS)
    if SCREENSHOT:
        page.evaluate("() => document.activeElement.blur()")
        page.screenshot(path=SCREENSHOT, full_page=False)


def test_console_previews_a_filter_resend_before_queuing_it(console: Console, shop: dict[str, Any]) -> None:
    page, client = console.page, shop["tenant"].client
    console.open()
    console.sign_in(shop["tenant"].token)
    before = {j["id"] for j in _jobs(client)}

    # A filter the API refuses: its message as it came
    page.get_by_label("Event", exact=True).fill(EVENT)
    page.get_by_label("Filter (JSON, the content items filter)").fill('{"colour": {"eq": "red"}}')
    page.get_by_role("button", name="Preview (dry run)").click()
    expect(page.locator("#resend-error")).to_contain_text("colour")
    expect(page.locator("#resend-error")).to_contain_text("422")

    # A dry run: the counts, nothing queued
    page.get_by_label("Filter (JSON, the content items filter)").fill('{"tags": {"eq": "console"}}')
    page.get_by_label("Webhook ids").fill(shop["webhooks"]["good"])
    page.get_by_role("button", name="Preview (dry run)").click()
    expect(page.locator("#resend-summary")).to_contain_text(
        f"Would queue {ITEMS} pairs: {ITEMS} items × 1 webhook"
    )
    assert {j["id"] for j in _jobs(client)} == before

    # Queued: the new job opens
    page.get_by_role("button", name="Queue the resend", exact=True).click()
    expect(page.locator("#job-title")).not_to_have_text(re.compile(f"{shop['job']['id']}|^Job$"))
    new = {j["id"] for j in _jobs(client)} - before
    assert len(new) == 1
    [job_id] = new
    expect(page.locator("#job-title")).to_have_text(f"Job {job_id}")
    job = client.get(f"/resends/{job_id}").json()
    assert job["source"] == "api"
    assert_counters_add_up(job)


def test_console_resends_a_jobs_failed_pairs(console: Console, shop: dict[str, Any]) -> None:
    page, client, job = console.page, shop["tenant"].client, shop["job"]
    console.open()
    console.sign_in(shop["tenant"].token)
    console.open_job(job["id"])
    before = {j["id"] for j in _jobs(client)}

    page.get_by_role("button", name="Resend failed…").click()
    expect(page.locator("#failed-summary")).to_contain_text(f"Would queue {ITEMS} pairs")
    expect(page.locator("#failed-summary")).to_contain_text("failed in this job")
    assert {j["id"] for j in _jobs(client)} == before
    page.get_by_role("button", name="Queue the resend of the failed pairs").click()

    expect(page.locator("#job-title")).not_to_have_text(f"Job {job['id']}")
    [job_id] = {j["id"] for j in _jobs(client)} - before
    expect(page.locator("#job-title")).to_have_text(f"Job {job_id}")
    # Selected asynchronously: the job counts the 3 failed pairs once its selection is done
    expect(page.locator("#job-counters [data-field='total_queued'] dd")).to_have_text(
        str(ITEMS), timeout=30_000
    )
    resent = client.get(f"/resends/{job_id}").json()
    assert_counters_add_up(resent)
    assert resent["total_queued"] == ITEMS


def test_console_pauses_resumes_and_cancels_a_job(
    console: Console, shop: dict[str, Any], receiver: Receiver
) -> None:
    page, client = console.page, shop["tenant"].client
    # Given a job that runs for a while: 20 items to a webhook paced at 1 request a second
    answer = client.post(
        "/webhooks",
        json={
            "urls": [receiver.url + receiver.new_path("slow")],
            "events": [EVENT],
            "rate_limit": {"per_second": 1},
        },
    )
    assert answer.status_code == 201, answer.text
    slow = answer.json()["id"]
    items = [str(uuid.uuid4()) for _ in range(20)]
    for item in items:
        assert client.put(f"/content_items/{item}", json={"model": "Post"}).status_code == 201
    started = client.post("/resends", json={"event": EVENT, "item_ids": items, "webhook_ids": [slow]})
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    console.open()
    console.sign_in(shop["tenant"].token)
    console.open_job(job_id)
    status = page.locator("#job-counters [data-field='status'] dd")
    expect(status).to_have_text("running")
    # While it runs: a rate, and the progress bar's text says every count
    expect(page.locator("#job-counters [data-field='rate'] dd")).to_have_text(re.compile(r"^\d+\.\d/s$"))
    expect(page.locator("#job-progress [role='progressbar']")).to_have_attribute(
        "aria-valuetext", re.compile(r"delivered, .* failed, .* cancelled, .* pending of 20$")
    )

    page.get_by_role("button", name="Pause").click()
    expect(status).to_have_text("paused")
    expect(page.get_by_role("button", name="Pause")).to_be_disabled()
    assert client.get(f"/resends/{job_id}").json()["status"] == "paused"

    page.get_by_role("button", name="Resume").click()
    expect(status).to_have_text("running")
    assert client.get(f"/resends/{job_id}").json()["status"] == "running"

    # Cancel asks first
    page.get_by_role("button", name="Cancel…").click()
    page.get_by_role("button", name="Yes, cancel the job").click()
    expect(status).to_have_text("cancelled")
    expect(page.get_by_role("button", name="Resume")).to_be_disabled()
    # The pairs not yet delivered end cancelled; the page follows until none is pending
    expect(page.locator("#job-counters [data-field='pending'] dd")).to_have_text("0", timeout=30_000)
    job = client.get(f"/resends/{job_id}").json()
    assert_counters_add_up(job)
    assert job["status"] == "cancelled"
    assert job["cancelled"] > 0
    expect(page.locator("#job-counters [data-field='cancelled'] dd")).to_have_text(str(job["cancelled"]))

    # An impossible move: the API's 409, as it came
    page.evaluate("() => { document.getElementById('job-resume').disabled = false; }")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#job-error")).to_contain_text("409")
    expect(page.locator("#job-error")).to_contain_text("cancelled")
