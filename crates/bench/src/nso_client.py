"""The baseline of the NSO row: what a user would write in Python to read a
RESTCONF notification stream and hand each notification on: requests,
json.loads, json.dumps (compact, as netpipe renders it).

    python nso_client.py URL USER PASSWORD COUNT   ->   {"rate": notifications/s}
"""

import json
import sys
import time

import requests

url, user, password, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
start = time.perf_counter()
seen = 0
with requests.get(url, auth=(user, password), headers={"Accept": "text/event-stream"},
                  stream=True, timeout=60) as response:
    response.raise_for_status()
    data = []
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif not line and data:
            notification = json.loads("\n".join(data))["ietf-restconf:notification"]
            json.dumps(notification, separators=(",", ":"), ensure_ascii=False)
            data = []
            seen += 1
            if seen >= count:
                break
print(json.dumps({"rate": seen / (time.perf_counter() - start)}))
