#!/usr/bin/env python3
"""Drive a running Skyport's own UWS 1.1 job interface (/uws/jobs) with pyvo's own UWS code.

Usage: pyvo_check.py BASE_URL [--token T] [--other-token T2] [--expect-owner O] [--request JSON] [--final] [--timeout S]
       (run it through scripts/pyvo_check.sh, which provides a venv with pyvo and requests)

pyvo code paths exercised (pyvo has no generic UWS job class; AsyncTAPJob is generic apart from .query/.upload):
  * pyvo.io.uws.parse_job_list     GET {jobs}, with PHASE / LAST / AFTER filters
  * AsyncTAPJob(url)               GET {job} + pyvo.io.uws.parse_job (every property below re-reads the job)
  * .phase .owner .uws_version .quote .destruction .execution_duration .results .result_uris
  * .execution_duration = n        POST {job}/executionduration EXECUTIONDURATION=n
  * .destruction = datetime        POST {job}/destruction DESTRUCTION=<pyvo's zone-less format>
  * .run()                         POST {job}/phase PHASE=RUN
  * .wait()                        GET {job}?WAIT=-1 until a final phase (with --final; and on a job that fails at once)
  * .raise_if_error()              reads errorSummary/message
  * .abort()                       POST {job}/phase PHASE=ABORT
  * .delete()                      DELETE {job} (2xx/3xx, redirect not followed)
Job creation is a plain form POST (AsyncTAPJob.create is TAP-only), expecting 303 + Location.
Every XML document is also validated against the UWS 1.1 XSD with xmllint when both are present.
Prints `key=value` facts (phase_after_run, no_job_phase, results, ...) and `RESULT: PASS`; exit 0 only if all checks pass.
"""
import argparse
import datetime
import io
import os
import shutil
import subprocess
import sys
import time

import requests
from pyvo.dal.exceptions import DALQueryError, DALServiceError
from pyvo.dal.tap import AsyncTAPJob
from pyvo.io import uws

HERE = os.path.dirname(os.path.abspath(__file__))
XSD = os.environ.get("UWS_XSD", os.path.join(HERE, "..", "..", "shared", "schemas", "UWS-v1.1-local.xsd"))
FINAL = {"COMPLETED", "ERROR", "ABORTED"}
TAP_REQUEST = ('{"executable": {"kind": "tap-query", "query": "SELECT TOP 3 table_name FROM tap_schema.tables"},'
               ' "compute": {"cores": {"min": 1, "max": 1}, "memory": {"min": 1, "max": 1}},'
               ' "schedule": {"requested": {"duration": "PT10M"}}}')
# A notebook needing 100000 cores: no facility of the smoke test (TAP only) nor any real one can take it.
IMPOSSIBLE_REQUEST = ('{"executable": {"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"},'
                      ' "compute": {"cores": {"min": 100000}, "memory": {"min": 1}}}')
problems = []


def note(ok, msg):
    print(("  ok   " if ok else "  FAIL ") + msg)
    if not ok:
        problems.append(msg)


def fact(key, value):
    print(f"{key}={value}")


def xsd_check(label, data):
    if not shutil.which("xmllint") or not os.path.exists(XSD):
        print(f"  (XSD check of {label} skipped: xmllint or {XSD} missing)")
        return
    p = subprocess.run(["xmllint", "--noout", "--schema", XSD, "-"], input=data, capture_output=True)
    note(p.returncode == 0, f"{label} validates against the UWS 1.1 XSD" + ("" if p.returncode == 0 else f": {p.stderr.decode()[:300]}"))


def job_list(s, jobs, query=""):
    r = s.get(jobs + query, timeout=30)
    note(r.status_code == 200, f"GET {{jobs}}{query}: HTTP {r.status_code}")
    xsd_check(f"job list {query or '(all)'}", r.content)
    return uws.parse_job_list(io.BytesIO(r.content))


def create(s, jobs, data):
    r = s.post(jobs, data=data, allow_redirects=False, timeout=60)
    loc = r.headers.get("Location")
    note(r.status_code == 303 and bool(loc), f"create: HTTP {r.status_code}, Location={loc!r} (UWS wants 303 + Location)")
    if not loc:
        print(f"cannot continue without a job URL: {r.text[:300]}")
        sys.exit(1)
    return requests.compat.urljoin(jobs + "/", loc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="the broker, e.g. http://127.0.0.1:8090")
    ap.add_argument("--token", default="pyvo-check-token", help="bearer token the jobs belong to")
    ap.add_argument("--other-token", default="pyvo-check-someone-else", help="a second caller, who must not see the jobs")
    ap.add_argument("--expect-owner", help="the ownerId the jobs must show (SKYPORT_AUTH=oidc: issuer#subject of --token)")
    ap.add_argument("--request", default=TAP_REQUEST, help="the ExecutionBroker request document to run (JSON or YAML)")
    ap.add_argument("--impossible-request", default=IMPOSSIBLE_REQUEST, help="a request no registered facility can take")
    ap.add_argument("--final", action="store_true", help="wait with pyvo until the job ends, expect COMPLETED and fetch a result")
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()

    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {a.token}"
    jobs = a.base.rstrip("/") + "/uws/jobs"
    started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(seconds=1)

    print(f"== pyvo against {jobs}")
    r = requests.get(jobs, timeout=30)
    note(r.status_code == 401 and r.headers.get("WWW-Authenticate", "").startswith("Bearer"),
         f"without a token: HTTP {r.status_code}, WWW-Authenticate={r.headers.get('WWW-Authenticate')!r}")
    before = len(job_list(s, jobs))

    print("== create, then AsyncTAPJob (pyvo.io.uws.parse_job)")
    url = create(s, jobs, {"request": a.request, "RUNID": "pyvo-check"})
    job = AsyncTAPJob(url, session=s, delete=False)
    j = job._job
    note(j.phase == "PENDING", f"new job phase {j.phase}")
    note(str(job.uws_version) == "1.1", f"uws:job/@version {job.uws_version!r}")
    note(j.runid == "pyvo-check", f"runId {j.runid!r}")
    note(bool(job.owner), f"owner {job.owner!r}")
    if a.expect_owner is not None:
        note(job.owner == a.expect_owner, f"owner is {a.expect_owner!r}")
    print(f"owner={job.owner}")
    note(len(job_list(s, jobs)) == before + 1, "the new job is listed")
    xsd_check("the PENDING job", s.get(url, timeout=30).content)
    for sub in ("phase", "executionduration", "destruction", "quote", "owner", "error"):
        rr = s.get(f"{url}/{sub}", timeout=30)
        note(rr.status_code == 200, f"GET {{job}}/{sub}: HTTP {rr.status_code} {rr.text.strip()[:60]!r}")
    for sub in ("parameters", "results"):
        rr = s.get(f"{url}/{sub}", timeout=30)
        note(rr.status_code == 200, f"GET {{job}}/{sub}: HTTP {rr.status_code}")
        xsd_check(f"{{job}}/{sub}", rr.content)

    job.execution_duration = 1200
    note(round(job.execution_duration.sec) == 1200, f"execution_duration set through pyvo: {job.execution_duration.sec}")
    job.destruction = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(days=2)
    note(job.destruction is not None, f"destruction set through pyvo: {job.destruction}")

    print("== run(), then wait until it leaves PENDING")
    job.run()
    deadline = time.monotonic() + a.timeout
    phase = job.phase
    while phase == "PENDING" and time.monotonic() < deadline:
        time.sleep(0.1)
        phase = job.phase
    fact("phase_after_run", phase)
    note(phase in {"QUEUED", "EXECUTING", "COMPLETED", "ERROR"}, f"after run() the job is {phase} (pyvo.wait() needs it active)")
    if a.final:
        try:
            job.wait(timeout=a.timeout)  # GET {job}?WAIT=-1 until COMPLETED / ERROR / ABORTED
        except DALServiceError as e:
            note(False, f"AsyncTAPJob.wait() failed: {e}")
        phase = job.phase
        fact("final_phase", phase)
        note(phase == "COMPLETED", f"the job ended {phase}")
        try:
            job.raise_if_error()
        except DALQueryError as e:
            note(False, f"raise_if_error(): {e}")
    results = job.job.results
    fact("results", ",".join(r.id_ for r in results))
    print(f"  result_uris = {job.result_uris}")
    session_link = next((r.href for r in results if r.id_ == "session"), None)
    note(session_link is not None and "/sessions/" in session_link, f"a result links the session: {session_link}")
    if session_link:
        rr = s.get(session_link, timeout=30)
        note(rr.ok and rr.json().get("phase") is not None, f"the session link answers: HTTP {rr.status_code}, phase {rr.json().get('phase')}")
    remote = [r for r in results if r.id_ not in ("session", "offerset")]
    if a.final and remote:
        rr = s.get(remote[0].href, timeout=60)
        note(rr.ok, f"first result {remote[0].id_}: HTTP {rr.status_code} {rr.headers.get('Content-Type')} {len(rr.content)} bytes")
        fact("first_result_is_votable", "VOTABLE" in rr.text)
    xsd_check(f"the {phase} job", s.get(url, timeout=30).content)

    print("== a job no facility can run: ERROR at once, with the reasons")
    no_url = create(s, jobs, {"REQUEST": a.impossible_request, "phase": "RUN"})
    no_job = AsyncTAPJob(no_url, session=s, delete=False)
    no_job.wait(timeout=a.timeout)  # ERROR is final: WAIT=-1 returns at once
    fact("no_job_phase", no_job._job.phase)
    try:
        no_job.raise_if_error()
        note(False, "raise_if_error() raised nothing")
    except DALQueryError as e:
        note("negotiation gave NO" in str(e), f"raise_if_error(): {str(e)[:160]}")
    xsd_check("the ERROR job", s.get(no_url, timeout=30).content)

    print("== list filters (pyvo.io.uws.parse_job_list)")
    ids = {job.job_id, no_job.job_id}
    errors = {ref.jobid for ref in job_list(s, jobs, "?PHASE=ERROR")}
    note(no_job.job_id in errors, "PHASE=ERROR lists the failed job")
    if phase != "ERROR":
        note(job.job_id not in errors, f"PHASE=ERROR does not list the {phase} job")
    both = {ref.jobid for ref in job_list(s, jobs, f"?PHASE=ERROR&PHASE={phase}")}
    note(ids <= both, "PHASE=ERROR&PHASE=<first job's> lists both")
    note(len(job_list(s, jobs, "?LAST=1")) == 1, "LAST=1 lists one job")
    after = {ref.jobid for ref in job_list(s, jobs, "?AFTER=" + started.strftime("%Y-%m-%dT%H:%M:%SZ"))}
    note(ids <= after, "AFTER=<start of this check> lists both jobs")

    other = requests.Session()
    other.headers["Authorization"] = f"Bearer {a.other_token}"
    note(other.get(url, timeout=30).status_code == 404, "another caller gets 404 for the job")
    note(not ({ref.jobid for ref in uws.parse_job_list(io.BytesIO(other.get(jobs, timeout=30).content))} & ids),
         "another caller's list does not show the jobs")

    print("== abort() and delete()")
    if job.phase not in FINAL:
        job.abort()
        fact("phase_after_abort", job.phase)
        note(job.phase == "ABORTED", f"after abort() the job is {job.phase}")
    for victim, victim_url in ((job, url), (no_job, no_url)):
        victim.delete()
        note(s.get(victim_url, timeout=30).status_code == 404, f"deleted job {victim_url.rsplit('/', 1)[-1]} is gone")

    print("\nRESULT:", "PASS" if not problems else f"{len(problems)} problem(s)")
    for p in problems:
        print("  -", p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
