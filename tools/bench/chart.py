#!/usr/bin/env python3
# Copyright 2026 The Picos for C++ Authors.
#
# tools/bench/chart.py — charts from the suite's raw result lines (the file tools/bench.sh
# keeps, $BENCH_OUT), python3 standard library only:
#   bench=<name> impl=<impl> threads=<workers> value=<number> unit=<unit>
# Writes one SVG per workload (<name>.svg: horizontal bars, one per impl and worker count, in
# the order the lines came, each labelled with its value; the unit and which way is better
# in the title; linear scale from 0) and an index, index.md, that shows them all. A FAILED
# line gets no bar, only the word. Other lines (headers, warnings) are ignored; a repeated
# (workload, impl, workers) keeps the last figure.
#
#   python3 tools/bench/chart.py RAW [OUT_DIR] [--note=TEXT]
#
# OUT_DIR defaults to docs/benchmarks/ in this repository; it is created if missing. --note
# adds a line under every title and in the index (e.g. the machine and the date).
# tools/bench.sh runs this at the end when given --charts=DIR or BENCH_CHARTS=DIR.

import os
import re
import sys
import textwrap
from xml.sax.saxutils import escape

LINE = re.compile(r'bench=(\S+) impl=(\S+) threads=(\d+) value=(\S+) unit=(\S+)$')

# Bar colours by impl family: Picos schedulers, Picos' thread scheduler, the peers (Boost.Fiber,
# Go, the C epoll loop, nginx); anything else green.
COLOURS = [
    ('picos-thread', '#9ecae1'),
    ('picos-', '#3182bd'),
    ('boost_fiber', '#e6550d'),
    ('go', '#756bb1'),
    ('epoll_c', '#636363'),
    ('nginx', '#31a354'),
]

WIDTH = 760
LABEL_W = 230      # left column: impl and workers
VALUE_W = 110      # room right of the longest bar for its value
BAR_H = 22
GAP = 8
TITLE_H = 40       # title, then the note's lines, above the bars
NOTE_LINE = 17
NOTE_CHARS = 100   # the note is wrapped at this many characters a line


def usage(msg):
    sys.stderr.write('chart.py: %s\nusage: chart.py RAW [OUT_DIR] [--note=TEXT]\n' % msg)
    sys.exit(2)


def parse(path):
    """{workload: {'unit': str, 'bars': {(impl, threads): value or None}}}, in file order."""
    charts = {}
    with open(path) as f:
        for line in f:
            m = LINE.match(line.strip())
            if not m:
                continue
            name, impl, threads, value, unit = m.groups()
            if value == 'FAILED':
                v = None
            else:
                try:
                    v = float(value)
                except ValueError:
                    continue
            c = charts.setdefault(name, {'unit': unit, 'bars': {}})
            c['unit'] = unit
            c['bars'][(impl, int(threads))] = v
    return charts


def fmt(v):
    if v is None:
        return 'FAILED'
    if v >= 100:
        return '{:,.0f}'.format(v)
    return '%.3g' % v


def colour(impl):
    for prefix, c in COLOURS:
        if impl.startswith(prefix):
            return c
    return '#74c476'


def svg(name, unit, bars, note):
    higher = unit.endswith('/s')
    title = '%s (%s, %s is better)' % (name, unit, 'higher' if higher else 'lower')
    items = list(bars.items())
    top = max([v for _, v in items if v is not None] + [0])
    scale = (WIDTH - LABEL_W - VALUE_W) / top if top > 0 else 0
    note_lines = textwrap.wrap(note, NOTE_CHARS) if note else []
    bars_y = TITLE_H + len(note_lines) * NOTE_LINE + 8
    height = bars_y + len(items) * (BAR_H + GAP) + 12
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
        'viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">' %
        (WIDTH, height, WIDTH, height),
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="22" font-size="16" font-weight="bold">%s</text>' % escape(title),
    ]
    for i, text in enumerate(note_lines):
        out.append('<text x="10" y="%d" font-size="12" fill="#555">%s</text>' %
                   (TITLE_H + 2 + i * NOTE_LINE, escape(text)))
    for i, ((impl, threads), v) in enumerate(items):
        y = bars_y + i * (BAR_H + GAP)
        label = '%s, %d worker%s' % (impl, threads, '' if threads == 1 else 's')
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' %
                   (LABEL_W - 8, y + BAR_H - 6, escape(label)))
        w = v * scale if v is not None else 0
        if v is not None:
            out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' %
                       (LABEL_W, y, max(w, 1), BAR_H, colour(impl)))
        out.append('<text x="%.1f" y="%d"%s>%s</text>' %
                   (LABEL_W + w + 6, y + BAR_H - 6,
                    ' fill="#c00" font-weight="bold"' if v is None else '', escape(fmt(v))))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>' %
               (LABEL_W, bars_y - 4, LABEL_W, bars_y + len(items) * (BAR_H + GAP) - GAP + 4))
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def main(argv):
    note = ''
    pos = []
    for a in argv[1:]:
        if a.startswith('--note='):
            note = a[len('--note='):]
        elif a.startswith('--'):
            usage('unknown flag %r' % a)
        else:
            pos.append(a)
    if not 1 <= len(pos) <= 2:
        usage('expected RAW and optionally OUT_DIR')
    raw = pos[0]
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = pos[1] if len(pos) == 2 else os.path.join(here, '..', '..', 'docs', 'benchmarks')
    out_dir = os.path.normpath(out_dir)
    try:
        charts = parse(raw)
    except OSError as e:
        usage('cannot read %s: %s' % (raw, e.strerror))
    if not charts:
        usage('no result lines in %s' % raw)
    os.makedirs(out_dir, exist_ok=True)
    index = ['# Benchmark charts', '',
             'One chart per workload of `tools/bench.sh` (see docs/benchmarks.md, "The suite"), '
             'drawn by `tools/bench/chart.py` from its raw result lines.', '']
    if note:
        index += [note, '']
    for name, c in charts.items():
        path = os.path.join(out_dir, name + '.svg')
        with open(path, 'w') as f:
            f.write(svg(name, c['unit'], c['bars'], note))
        index += ['## %s' % name, '', '![%s (%s)](%s.svg)' % (name, c['unit'], name), '']
    with open(os.path.join(out_dir, 'index.md'), 'w') as f:
        f.write('\n'.join(index))
    print('charts: %d workloads -> %s (index.md)' % (len(charts), out_dir))


if __name__ == '__main__':
    main(sys.argv)
