#!/usr/bin/env python3
"""A second OAI-PMH harvester to compare Skyport's with: harvests BASE_URL with sickle (PyPI), ListRecords
metadataPrefix=ivo_vor through every resumptionToken, and prints one JSON object per record: its OAI identifier,
whether the header says deleted, and (for a record with metadata) the VOResource's own identifier, status and title.
Usage: sickle_harvest.py BASE_URL"""
import json
import sys
import xml.etree.ElementTree as ET

from sickle import Sickle
from sickle.oaiexceptions import NoRecordsMatch


def local(tag):
    return tag.rsplit("}", 1)[-1]


def main():
    out = []
    try:
        records = Sickle(sys.argv[1], max_retries=0, timeout=30).ListRecords(metadataPrefix="ivo_vor", ignore_deleted=False)
        for record in records:
            item = {"identifier": record.header.identifier, "deleted": bool(record.header.deleted)}
            metadata = record.xml.find("{http://www.openarchives.org/OAI/2.0/}metadata")
            resource = next(iter(metadata), None) if metadata is not None else None
            if resource is not None:
                item["status"] = resource.get("status")
                for child in resource:
                    if local(child.tag) in ("identifier", "title") and local(child.tag) not in item:
                        item[local(child.tag)] = (child.text or "").strip()
            out.append(item)
    except NoRecordsMatch:
        pass
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
