#!/usr/bin/env python3
"""Checks the audit trail the HIL guest exported (JSON Lines): each scenario must have left
its events, with the right person, door and factors. Prints what is missing; exit 1 then."""
import json
import sys

events = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]


def has(description, predicate):
    found = any(predicate(e) for e in events)
    print(f"  {'ok ' if found else 'MISSING'} {description}")
    return found


def factor(e, name):
    return next((f for f in e.get("factors", []) if f["factor"] == name), None)


checks = [
    has("1: office granted to Barack Obama by face",
        lambda e: e["type"] == "access.granted" and e.get("door") == "office" and e.get("personName") == "Barack Obama"
        and (factor(e, "face") or {}).get("ok")),
    has("1: office lock released, door opened, closed, relocked",
        lambda e: e["type"] == "door.relocked" and e.get("door") == "office"),
    has("2: office denied to an unrecognised face",
        lambda e: e["type"] == "access.denied" and e.get("door") == "office" and "personID" not in e
        and factor(e, "face") is not None and not factor(e, "face")["ok"]),
    has("3: server room granted to Barack Obama by badge 12:1001 and face",
        lambda e: e["type"] == "access.granted" and e.get("door") == "server-room" and e.get("badge") == "12:1001"
        and (factor(e, "badge") or {}).get("ok") and (factor(e, "face") or {}).get("ok")),
    has("3: server room denied for badge 12:1001 with the wrong face",
        lambda e: e["type"] == "access.denied" and e.get("door") == "server-room" and e.get("badge") == "12:1001"
        and factor(e, "face") is not None and not factor(e, "face")["ok"]),
    has("4: office forced open", lambda e: e["type"] == "door.forced_open" and e.get("door") == "office"),
    has("5: office exit button", lambda e: e["type"] == "door.rex" and e.get("door") == "office"),
    has("6: stopped by SIGTERM", lambda e: e["type"] == "system.stop" and "SIGTERM" in json.dumps(e.get("detail", {}))),
    has("the V4L2 camera started", lambda e: e["type"] == "system.camera_started"),
    has("8: server room refused for badge 12:1001 while the office was open (interlock)",
        lambda e: e["type"] == "access.denied" and e.get("door") == "server-room" and e.get("badge") == "12:1001"
        and e.get("reasons") == ["interlock"] and e.get("rule") == "interlock:airlock"),
    has("8: server room granted to badge 12:1001 once the office was shut",
        lambda e: e["type"] == "access.granted" and e.get("door") == "server-room" and e.get("badge") == "12:1001"
        and factor(e, "face") is None),
]
# 7: killed with SIGKILL, so that run has no system.stop: two starts in a row.
lifecycle = [e["type"] for e in events if e["type"] in ("system.start", "system.stop")]
crashed = any(a == b == "system.start" for a, b in zip(lifecycle, lifecycle[1:]))
print(f"  {'ok ' if crashed else 'MISSING'} 7: a run ended by kill -9 (no system.stop) and the restart after it")
checks.append(crashed)
print(f"audit: {len(events)} events, {sum(checks)}/{len(checks)} checks")
sys.exit(0 if all(checks) else 1)
