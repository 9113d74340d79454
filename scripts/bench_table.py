#!/usr/bin/env python3
"""Turn the bench's "name value unit" lines into the table (stdout) and JSON, next to the goals (DESIGN.md)."""
import json
import sys

GOALS = {
    'translate_cached': ('<=', 5.0, 'ns'),
    'translate_uncached': ('<=', 60.0, 'ns'),
    'ratio_uncached_vs_bare': ('<=', 2.0, 'x (aim)'),
    'ratio_read8_vs_bare': ('<=', 1.3, 'x'),
    'load_symbols_btf_warm': ('<=', 150.0, 'ms'),
    'tick_cost': ('<=', 1000.0, 'ns'),
    'tick_allocations': ('==', 0.0, 'per tick'),
    'tick_syscalls': ('==', 0.0, 'per tick'),
    'hit_to_frozen_confirmed': ('<=', 5.0, 'ms'),
    'ratio_freeze_thaw_vs_qmp': ('<=', 2.0, 'x'),
}


def main():
    rows = {}
    for line in open(sys.argv[1]):
        parts = line.split()
        if len(parts) >= 3:
            try:
                rows[parts[0]] = (float(parts[1]), ' '.join(parts[2:]))
            except ValueError:
                pass
    out = []
    print('%-34s %14s %-10s %s' % ('measurement', 'value', 'unit', 'goal'))
    print('-' * 80)
    for name, (value, unit) in rows.items():
        goal = GOALS.get(name)
        verdict = ''
        if goal:
            op, limit, gunit = goal
            met = value <= limit if op == '<=' else value == limit
            verdict = '%s %g %s: %s' % (op, limit, gunit, 'met' if met else 'NOT met')
        print('%-34s %14.3f %-10s %s' % (name, value, unit, verdict))
        out.append({'name': name, 'value': value, 'unit': unit, 'goal': goal and {'op': goal[0], 'limit': goal[1]},
                    'met': (None if not goal else (value <= goal[1] if goal[0] == '<=' else value == goal[1]))})
    with open(sys.argv[2], 'w') as f:
        json.dump(out, f, indent=1)
    print('\nJSON: %s' % sys.argv[2])


if __name__ == '__main__':
    main()
