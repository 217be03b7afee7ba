"""Strategies for the string formats Skyport's spec names for documents carried in a string (a UWS job's request,
software and basket), so that schemathesis generates valid ones: JSON Schema cannot describe the document inside a
string. Loaded by scripts/schemathesis-run.sh through SCHEMATHESIS_HOOKS."""

import json

import schemathesis
from hypothesis import strategies as st


def iso_duration(milliseconds):
    """A strict ISO-8601 duration (designators in order, a fraction only on seconds) of the given length, written
    in one of several equivalent ways."""
    seconds, ms = divmod(milliseconds, 1000)
    fraction = f".{ms:03d}".rstrip("0") if ms else ""

    def split(style):
        days, rest = divmod(seconds, 86400) if style >= 1 else (0, seconds)
        hours, rest = divmod(rest, 3600) if style >= 2 else (0, rest)
        minutes, secs = divmod(rest, 60) if style >= 3 else (0, rest)
        date = f"{days}D" if days else ""
        time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
        if secs or fraction or not (date or time):
            time += f"{secs}{fraction}S"
        return "P" + date + ("T" + time if time else "")

    return st.sampled_from([0, 1, 2, 3]).map(split)


def bounded(low_ms, high_ms):
    return st.integers(min_value=low_ms, max_value=high_ms).flatmap(iso_duration)


_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)
_url = st.sampled_from(["https://github.com/astropy/astropy", "https://gitlab.com/ska-telescope/sdp/ska-sdp-func.git"])
_language = st.sampled_from(["Python 3", "python3.11", "R", "Julia", "Python>=3.8"])

# A codemeta.json: the fields Skyport reads, each of the type codemeta gives it.
_codemeta = st.fixed_dictionaries(
    {"@context": st.just("https://doi.org/10.5063/schema/codemeta-2.0")},
    optional={
        "name": _text,
        "version": _text,
        "codeRepository": _url,
        "programmingLanguage": st.one_of(_language, st.lists(_language, max_size=3)),
        "runtimePlatform": st.one_of(_language, st.lists(_language, max_size=3)),
        "keywords": st.lists(_text, max_size=5),
        "softwareRequirements": st.lists(st.sampled_from(["astropy", "numpy>=1.21", "Python>=3.8"]), max_size=3),
    },
)
schemathesis.openapi.format("codemeta-json", _codemeta.map(json.dumps))

# An ExecutionBroker request: an executable Skyport can match, and optionally a name, a duration and resources.
_executable = st.sampled_from(
    [
        {"kind": "jupyter-notebook", "location": "https://example.org/nb.ipynb"},
        {"kind": "docker-container", "image": {"locations": ["ghcr.io/ska-telescope/ska-sdp-spectral-line-imaging:0.6.2"]}},
        {"kind": "binder-notebook", "repository": "https://github.com/astropy/astropy", "ref": "main"},
    ]
)
_request = st.fixed_dictionaries(
    {"executable": _executable},
    optional={
        "name": _text,
        "schedule": st.fixed_dictionaries({"requested": st.fixed_dictionaries({"duration": bounded(1000, 86400 * 1000)})}),
        "compute": st.fixed_dictionaries({"cores": st.integers(1, 64), "memory": st.integers(1, 256)}),
    },
)
schemathesis.openapi.format("request-document", _request.map(json.dumps))

# ESAP basket items: a Rucio DID, and an item of an archive Skyport keeps without fetching.
_item = st.one_of(
    st.fixed_dictionaries({"archive": st.just("rucio"), "did": st.sampled_from(["ska:lofar/obs1.ms", "lofar:L123456"])}),
    st.fixed_dictionaries({"item_data": st.just(json.dumps({"archive": "multi_query", "query": "SELECT 1"}))}),
)
schemathesis.openapi.format("basket-json", st.lists(_item, max_size=3).map(json.dumps))
