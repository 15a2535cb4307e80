# Parses Prometheus text exposition from stdin with the Prometheus Python client's own parser
# (prometheus_client.parser, Debian's python3-prometheus-client) and prints what it read as JSON:
# each metric family with its type and samples. test/metrics.test.ts checks Warden's /metrics
# through it, so that what Prometheus would read is what is checked, not prom-client's own view.
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def number(v):
    return str(v) if math.isinf(v) or math.isnan(v) else v


families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append({
        "name": family.name,
        "type": family.type,
        "samples": [{"name": s.name, "labels": s.labels, "value": number(s.value)} for s in family.samples],
    })
json.dump(families, sys.stdout)
